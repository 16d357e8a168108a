"""Many raters submitting at once on loopback: every rating is stored exactly once, even when each
submission is sent twice at the same moment."""
import httpx
import pytest
from support.browser import ADMIN_TOKEN, invite, judge_app, write_conversations
from support.load import run_load

DIMENSIONS = ["professionalism", "empathy", "practicality", "safety"]
RATERS = 24


@pytest.mark.slow
def test_concurrent_raters_each_rating_stored_exactly_once(tmp_path):
    write_conversations(tmp_path / "exp", ["m1", "m2", "m3"], seeds=(0, 1))  # 18 pairwise items
    with judge_app(tmp_path, "exp", "judge.app.items_per_rater=12") as base:
        tokens = [invite(base, f"rater{i}") for i in range(RATERS)]
        load = run_load(base, tokens, DIMENSIONS, replay=True)
        export = httpx.get(f"{base}/api/admin/export.json", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
                           timeout=60).json()
    expected = RATERS * 12
    assert load["statuses"][201] == expected and load["statuses"][409] == expected  # each replay lost its race
    assert set(load["statuses"]) == {200, 201, 409}
    assert len(load["stored"]) == len(set(load["stored"])) == expected
    ratings = {}
    for score in export["scores"]:
        ratings.setdefault(score["rating_id"], []).append(score)
    assert set(ratings) == set(load["stored"])
    assert all(len(scores) == 2 * len(DIMENSIONS) for scores in ratings.values())
    per_rater_item = {(s["rater"], s["item_id"]) for s in export["scores"]}
    assert len(per_rater_item) == expected  # no rater rated an item twice
    print(f"load: {load['requests']} requests in {load['seconds']:.1f}s, {load['requests_per_s']:.0f} req/s, "
          f"p99 {load['p99_ms']:.0f} ms")
