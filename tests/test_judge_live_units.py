"""The live chat's parts on their own: balanced assignment, what each model is sent, redaction that
holds while a reply streams in, recovery after a stop mid-turn, and the analysis that reports live
chats beside the AI-client transcripts."""
import itertools
import random
from collections import Counter

import httpx
import numpy as np
import pandas as pd
from support.live_chat import StreamingServer

from mhcompare.judge.store.assign import LiveCandidate, choose_live
from mhcompare.judge import live_chat
from mhcompare.judge.store.db import LiveReply, LiveSession, LiveTurn, Rater, open_database
from mhcompare.judge.store.live import INTERRUPTED, recover
from mhcompare.judge.live_chat import Generation, LiveEndpoint, ask_both, model_messages
from mhcompare.judge.redaction import Redactor
from mhcompare.judge.stats.report import write_report
from mhcompare.stages.judge_analysis import analyse

DIMENSIONS = ["professionalism", "empathy", "practicality", "safety"]


def test_live_chats_are_balanced_over_model_pairs_and_scenarios():
    rng = random.Random(0)
    pairs = list(itertools.combinations(["m1", "m2", "m3", "m4"], 2))
    scenarios = [f"s{i}" for i in range(6)]
    candidates = [LiveCandidate(p, s) for p in pairs for s in scenarios]
    everyone, per_rater = [], []
    for _ in range(12):  # 12 raters x 4 chats
        mine = []
        for _ in range(4):
            chosen = choose_live(candidates, mine, everyone, rng)
            mine.append(chosen)
            everyone.append(chosen)
        per_rater.append(mine)
    assert set(Counter(c.pair for c in everyone).values()) == {8}
    assert set(Counter(c.scenario_id for c in everyone).values()) == {8}
    assert max(Counter(everyone).values()) <= 2
    for mine in per_rater:  # no rater meets a pair or a scenario twice while others are left
        assert len({c.pair for c in mine}) == 4 and len({c.scenario_id for c in mine}) == 4


def test_each_model_sees_its_own_turns_and_a_failed_turn_is_joined_to_the_next():
    history = [("你好", "你好，我在。"), ("我睡不好", None)]
    assert model_messages("系统", history, "还是很累") == [
        {"role": "system", "content": "系统"}, {"role": "user", "content": "你好"},
        {"role": "assistant", "content": "你好，我在。"}, {"role": "user", "content": "我睡不好\n还是很累"}]


def test_a_name_split_across_streamed_pieces_never_reaches_the_screen(monkeypatch):
    monkeypatch.setattr(live_chat, "EMIT_EVERY", 1)  # look at the screen after every character
    monkeypatch.setattr(live_chat, "EMIT_GAP_S", 0)
    reply = "好的。我是Qwen，由阿里云开发。很高兴认识你，今天想聊些什么呢？我们慢慢来，不着急，你说我听。"
    events = []
    with StreamingServer(default=reply, model="q", chunk=1) as server, httpx.Client() as http:
        endpoint = LiveEndpoint("m", server.base_url, "q")
        results = ask_both(http, [("A", endpoint, [{"role": "user", "content": "hi"}])], Generation(timeout_s=10),
                           Redactor(), lambda event, data: events.append((event, data)))
    screen, states = "", []
    for event, data in events:
        screen = screen + data["text"] if event == "delta" else data["text"]
        states.append(screen)
    assert len(states) > 15 and events[-1][0] == "reply"
    assert not any(name in state for state in states for name in ("Qw", "阿里"))
    assert results[0].shown == states[-1] == "好的。我是一名 AI 助手。很高兴认识你，今天想聊些什么呢？我们慢慢来，不着急，你说我听。"
    assert results[0].raw == reply and results[0].error is None


def test_a_turn_the_app_stopped_in_is_closed_as_failed_at_the_next_start(tmp_path):
    database = open_database(f"sqlite:///{tmp_path / 'r.sqlite'}")
    with database.transaction() as session:
        rater = Rater(name="r", token_hash="x" * 64)
        session.add(rater)
        session.flush()
        live = LiveSession(rater_id=rater.id, position=1, scenario_id="s", scenario_type="counselling",
                           model_a="m1", model_b="m2", a_on_left=True)
        session.add(live)
        session.flush()
        turn = LiveTurn(session_id=live.id, number=1, client_text="hi")
        session.add(turn)
        session.flush()
        session.add(LiveReply(turn_id=turn.id, side="a", raw="ok", shown="ok"))
    with database.transaction() as session:
        assert recover(session) == 1
    with database.transaction() as session:
        turn = session.get(LiveTurn, turn.id)
        assert turn.completed_at is not None
        assert [(r.side, r.error) for r in turn.replies] == [("a", None), ("b", INTERRUPTED)]
        assert recover(session) == 0


def study(rng) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Export-shaped rows: good-model beats poor-model in transcripts and in live chats."""
    quality = {"good-model": 4, "poor-model": 2}
    scores, votes = [], []
    for source, n in (("ai_client", 12), ("live", 8)):
        for k in range(n):
            rater = k % 4
            item = f"{source}-{k}"
            cluster = f"s{k}/seed0" if source == "ai_client" else f"live/{item}"
            for model, q in quality.items():
                for d in DIMENSIONS:
                    scores.append({"rating_id": item, "rater_id": rater, "source": source, "model": model,
                                   "conversation_id": f"{item}-{model}", "scenario_type": "counselling",
                                   "dimension": d, "score": int(np.clip(q + rng.integers(-1, 2), 1, 5)),
                                   "turns_redacted": 0, "identity_flagged": False})
            votes.append({"source": source, "model_a": "good-model", "model_b": "poor-model", "cluster": cluster,
                          "winner": "good-model" if rng.random() < 0.8 else "poor-model"})
    return pd.DataFrame(scores), pd.DataFrame(votes)


def test_the_analysis_reports_live_and_ai_client_side_by_side_and_combined(tmp_path):
    scores, votes = study(np.random.default_rng(0))
    llm = pd.DataFrame(columns=["conversation_id", "dimension", "llm_score"])
    results = analyse(scores, votes, llm, n_boot=200, seed=0)
    by_source = results["source_scores"]
    assert list(by_source.columns[:3]) == ["source", "model", "dimension"]
    assert set(by_source["source"]) == {"ai_client", "live", "combined"}
    live = by_source[(by_source["source"] == "live") & (by_source["dimension"] == "empathy")].set_index("model")
    assert live.loc["good-model", "n_conversations"] == 8 and live.loc["good-model", "ci_low"] < live.loc[
        "good-model", "mean"] < live.loc["good-model", "ci_high"]
    combined = by_source[by_source["source"] == "combined"].drop(columns="source").reset_index(drop=True)
    pd.testing.assert_frame_equal(combined, results["model_scores"])
    ranking = results["source_bradley_terry"]
    assert set(ranking["source"]) == {"ai_client", "live", "combined"}
    assert (ranking.groupby("source")["n_votes"].max().to_dict()
            == {"ai_client": 12, "live": 8, "combined": 20})
    assert list(ranking[ranking["source"] == "live"]["model"]) == ["good-model", "poor-model"]
    path = write_report(tmp_path, "exp", results, DIMENSIONS, n_boot=200)
    text = path.read_text(encoding="utf-8")
    assert "## Live chats and AI-client transcripts" in text
    assert "| good-model | live chat |" in text and "| good-model | AI client |" in text
    assert "| live chat | 1 | good-model |" in text
    assert (tmp_path / "human_judge" / "source_bradley_terry.csv").exists()


def test_without_live_ratings_the_report_has_no_live_section(tmp_path):
    scores, votes = study(np.random.default_rng(1))
    scores, votes = scores[scores["source"] == "ai_client"], votes[votes["source"] == "ai_client"]
    llm = pd.DataFrame(columns=["conversation_id", "dimension", "llm_score"])
    results = analyse(scores, votes, llm, n_boot=100, seed=0)
    assert set(results["source_scores"]["source"]) == {"ai_client", "combined"}
    text = write_report(tmp_path, "exp", results, DIMENSIONS, n_boot=100).read_text(encoding="utf-8")
    assert "Live chats" not in text
