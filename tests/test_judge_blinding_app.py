"""Blinding in the running app (issue #27): the client's words reach the rater exactly as written,
a conversation whose model turn cannot be blinded with confidence is never given out and is
counted on /admin, and the organiser can read a flagged conversation there."""
import json
import re

from fastapi.testclient import TestClient
from support.browser import ADMIN_TOKEN, write_conversations

from mhcompare.judge.store.db import open_database
from mhcompare.judge.store.importing import build_items, conversation_files, import_conversations
from test_judge_security import ADMIN, BASE, invite, settings_for, sign_in

CLIENT_SAYS = "我在阿里巴巴实习，之前在清华读书，也问过通义千问。"
LEAKS = "Hi, I'm Qw3n — 很高兴陪你聊聊。"  # a name the rules cannot replace: the after-check holds it back


def study(tmp_path) -> str:
    records = write_conversations(tmp_path / "exp", ["alpha", "beta"])
    for path in (tmp_path / "exp").glob("*/seed0/judge/conversations.jsonl"):
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        for row in rows:
            row["turns"][0]["content"] = CLIENT_SAYS
            if row["model"] == "alpha" and row["scenario_id"] == "co01-exam-anxiety":
                row["turns"].append({"role": "counsellor", "content": LEAKS})
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'ratings.sqlite'}"
    with open_database(url).transaction() as session:
        import_conversations(session, "exp", conversation_files(tmp_path / "exp"))
        build_items(session, "pairwise")
    assert len(records) == 6
    return url


def test_clients_words_are_shown_as_written_and_a_leaking_conversation_is_held_back(tmp_path):
    from mhcompare.judge.web.app import create_app

    app = create_app(settings_for(study(tmp_path)))
    with TestClient(app, base_url=BASE, follow_redirects=False) as client:
        rater = invite(client, "reader")
        seen = []
        for _ in range(5):
            answer = client.get("/api/next", headers={"Authorization": f"Bearer {rater}"}).json()
            if answer["item"] is None:
                break
            item = answer["item"]
            seen.append(item)
            body = {"assignment_id": item["assignment_id"], "scores": {
                side: {d: 3 for d in ("professionalism", "empathy", "practicality", "safety")}
                for side in item["conversations"]}}
            assert client.post("/api/ratings", json=body, headers={"Authorization": f"Bearer {rater}"}).status_code == 201
        assert len(seen) == 2  # three scenarios, one pair each; the pair with the leaking turn is held back
        text = json.dumps(seen, ensure_ascii=False)
        assert "Qw3n" not in text and "Qwen" not in text
        for item in seen:
            for turns in item["conversations"].values():
                assert turns[0]["content"] == CLIENT_SAYS  # before #27: 阿里巴巴, 清华, 通义千问 replaced
                assert turns[1]["content"] == "我是一名 AI 助手，请慢慢说。"

        blinding = client.get("/api/admin/blinding", headers=ADMIN).json()
        alpha = next(m for m in blinding["models"] if m["model"] == "alpha")
        assert alpha["held_back"] == 1 and alpha["flagged"] == 1
        flagged = blinding["flagged"][0]
        assert flagged["held_back"] and flagged["names"] == ["qwen"]

        sign_in(client, ADMIN_TOKEN, "/admin/login")
        admin = client.get("/admin").text
        link = f'/admin/conversations/{flagged["conversation_id"]}'
        assert link in admin and "暂不评分" in admin
        page = client.get(link)
        assert page.status_code == 200 and "Qw3n" in page.text and CLIENT_SAYS in page.text
        assert client.get("/admin/conversations/no-such-id").status_code == 404
    with TestClient(app, base_url=BASE, follow_redirects=False) as stranger:
        assert stranger.get(link).status_code in (303, 307)  # the organiser's only
        assert re.search("login", stranger.get(link).headers["location"])
