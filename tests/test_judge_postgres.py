"""The rating app on a real PostgreSQL (Debian's package, a throwaway server: support/postgres.py),
served by several workers: the API tests' core flows, and the duplicate guards in the database
under concurrent requests spread over two app processes. Skipped where the server cannot start."""
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import create_engine, text
from support.browser import ADMIN_TOKEN, invite, judge_app, write_conversations
from support.postgres import fresh_database, postgres_server, unavailable

# the API tests' own functions, run again here against the PostgreSQL-backed `app` fixture below
from test_judge_api import (  # noqa: F401
    MODELS,
    client_for,
    rating,
    test_a_rater_gets_every_item_once_balanced_and_sides_randomised,
    test_a_replayed_submission_is_refused_and_stored_once,
    test_another_raters_item_is_not_found,
    test_exports_and_openapi_description,
    test_the_html_form_refuses_incomplete_scores_and_replays,
)

pytestmark = pytest.mark.slow
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def url_override(url: str) -> str:
    return f"judge.app.database_url='{url}'"


@pytest.fixture(scope="module")
def server():
    reason = unavailable()
    if reason:
        pytest.skip(reason)
    with postgres_server() as url:
        yield url


@pytest.fixture(scope="module")
def app(server, tmp_path_factory):
    """What test_judge_api's tests get here: the app on PostgreSQL with two workers."""
    outputs = tmp_path_factory.mktemp("outputs")
    write_conversations(outputs / "exp", MODELS)  # 9 pairwise items
    with judge_app(outputs, "exp", url_override(fresh_database(server, "api")), "judge.app.workers=2",
                   "judge.app.max_body_bytes=20000", "judge.app.max_comment_chars=500") as base:
        yield base


@pytest.fixture(scope="module")
def two_apps(server, tmp_path_factory):
    """Two app processes on one database (the first with two workers): three processes in all."""
    outputs = tmp_path_factory.mktemp("race")
    write_conversations(outputs / "exp", MODELS)  # 9 pairwise items, raters_per_item 3
    url = fresh_database(server, "race")
    with judge_app(outputs, "exp", url_override(url), "judge.app.workers=2") as first, \
            judge_app(outputs, "exp", url_override(url)) as second:
        yield first, second, url


def query(url: str, sql: str) -> dict:
    """A two-column query's rows as a dict, straight from the database."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return dict(conn.execute(text(sql)).all())
    finally:
        engine.dispose()


def open_assignments(url: str) -> dict[int, int]:
    """rater id -> assignments without a rating."""
    return query(url, "SELECT a.rater_id, count(*) FROM assignments a LEFT JOIN ratings r "
                      "ON r.assignment_id = a.id WHERE r.id IS NULL GROUP BY a.rater_id")


def at_once(calls: list) -> list:
    """Run the calls in threads released together."""
    barrier = threading.Barrier(len(calls))

    def go(call):
        barrier.wait()
        return call()
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(go, calls))


def test_raters_starting_at_once_keep_the_overlap_balanced(two_apps):
    """27 new raters ask for their first item at the same moment, through two apps: the 9 items get
    exactly raters_per_item (3) raters each, as if they had come one after another."""
    first, second, url = two_apps
    assert open_assignments(url) == {}, "runs first on the fresh database"
    tokens = [invite(first, f"crowd{i}") for i in range(27)]
    clients = [client_for(first if i % 2 else second, t) for i, t in enumerate(tokens)]
    assignments = at_once([lambda c=c: c.get("/api/next").json()["item"]["assignment_id"] for c in clients])
    assert len(set(assignments)) == 27
    assert sorted(query(url, "SELECT item_id, count(*) FROM assignments GROUP BY item_id").values()) == [3] * 9
    assert max(open_assignments(url).values()) == 1


def test_a_submission_sent_many_times_at_once_to_two_apps_is_stored_once(two_apps):
    first, second, _ = two_apps
    token = invite(first, "double-clicker")
    clients = [client_for(base, token) for base in (first, second) for _ in range(12)]
    for _ in range(3):
        assignment = clients[0].get("/api/next").json()["item"]["assignment_id"]
        body = rating(assignment, value=2, preference="tie")
        statuses = [r.status_code for r in at_once([lambda c=c: c.post("/api/ratings", json=body) for c in clients])]
        assert Counter(statuses) == {201: 1, 409: len(clients) - 1}
    assert clients[-1].get("/api/progress").json()["done"] == 3
    scores = httpx.get(f"{second}/api/admin/export.json", headers=ADMIN).json()["scores"]
    mine = [s for s in scores if s["rater"] == "double-clicker"]
    assert len({s["rating_id"] for s in mine}) == 3 and len(mine) == 3 * 2 * 4


def test_concurrent_next_requests_of_one_rater_open_one_item(two_apps):
    first, second, url = two_apps
    token = invite(second, "impatient")
    clients = [client_for(base, token) for base in (first, second) for _ in range(10)]
    for _ in range(4):
        items = at_once([lambda c=c: c.get("/api/next").json()["item"]["assignment_id"] for c in clients])
        assert len(set(items)) == 1  # everyone got the same open item
        assert set(open_assignments(url).values()) == {1}
        assert clients[0].post("/api/ratings", json=rating(items[0])).status_code == 201


def test_several_workers_on_sqlite_are_refused(tmp_path):
    write_conversations(tmp_path / "exp", MODELS)
    with pytest.raises(RuntimeError, match="needs a database server"), \
            judge_app(tmp_path, "exp", "judge.app.workers=2"):
        pass
