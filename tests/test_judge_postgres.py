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
    test_text_no_database_can_store_is_a_clear_400_and_stores_nothing,
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
    # the planner has the items' statistics from start-up on (db.refresh_statistics)
    assert query(url, "SELECT relname, last_analyze IS NOT NULL FROM pg_stat_user_tables "
                      "WHERE relname = 'items'") == {"items": True}
    tokens = [invite(first, f"crowd{i}") for i in range(27)]
    clients = [client_for(first if i % 2 else second, t) for i, t in enumerate(tokens)]
    assignments = at_once([lambda c=c: c.get("/api/next").json()["item"]["assignment_id"] for c in clients])
    assert len(set(assignments)) == 27
    assert sorted(query(url, "SELECT item_id, count(*) FROM assignments GROUP BY item_id").values()) == [3] * 9
    assert max(open_assignments(url).values()) == 1
    assert query(url, "SELECT id, coverage FROM items") == dict.fromkeys(query(url, "SELECT id, 0 FROM items"), 3)


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


def test_failed_sign_ins_are_counted_once_for_every_worker_and_app(two_apps):
    """Issue #27: each worker counted failed sign-ins in its own memory, so an address got
    workers x the limit. Here 10 wrong tokens spread over three processes reach the limit for all."""
    first, second, url = two_apps
    for i in range(10):
        guess = httpx.get(f"{(first, second)[i % 2]}/api/next", headers={"Authorization": f"Bearer guess-{i}"})
        assert guess.status_code == 401
    refused = [httpx.get(f"{base}/api/next", headers={"Authorization": "Bearer guess-x"}) for base in (first, second)]
    assert [r.status_code for r in refused] == [429, 429] and all(int(r.headers["Retry-After"]) > 0 for r in refused)
    assert query(url, "SELECT counted, count(*) FROM failed_sign_ins WHERE counted LIKE 'rater address:%' "
                      "GROUP BY counted") == {"rater address:127.0.0.1": 10}
    token = invite(second, "behind-the-guesser")  # a valid token from the same address still gets in
    assert httpx.get(f"{first}/api/progress", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_several_workers_on_sqlite_are_refused(tmp_path):
    write_conversations(tmp_path / "exp", MODELS)
    with pytest.raises(RuntimeError, match="needs a database server"), \
            judge_app(tmp_path, "exp", "judge.app.workers=2"):
        pass


@pytest.fixture(scope="module")
def held_items(server, tmp_path_factory):
    """One app on its own database, and a way to hold items' locks from another transaction, as a
    request giving those items out would (db.claim_item): yields (base URL, url, hold)."""
    import contextlib

    import psycopg
    from sqlalchemy import make_url

    from mhcompare.judge.store.db import ITEM_LOCK

    outputs = tmp_path_factory.mktemp("claims")
    write_conversations(outputs / "exp", MODELS)  # 9 pairwise items
    url = fresh_database(server, "claims")
    u = make_url(url)

    @contextlib.contextmanager
    def hold(item_ids):
        with psycopg.connect(host=u.host, port=u.port, user=u.username, dbname=u.database) as holder:
            for item_id in item_ids:
                holder.execute("SELECT pg_advisory_xact_lock(%s::integer, %s::integer)", (ITEM_LOCK, item_id))
            try:
                yield holder
            finally:
                holder.rollback()  # ends the transaction: the locks go

    with judge_app(outputs, "exp", url_override(url)) as base:
        yield base, url, hold


def given_item(url: str, rater: str) -> int:
    return next(iter(query(url, "SELECT a.item_id, a.position FROM assignments a JOIN raters r ON r.id = a.rater_id "
                                f"WHERE r.name = '{rater}'")))


def test_items_being_given_out_elsewhere_are_skipped_and_waited_for(held_items):
    base, url, hold = held_items
    items = sorted(query(url, "SELECT id, kind FROM items"))
    # every item but one held: each new rater gets the free one (by chance: 1 in 9 each)
    for n, free in enumerate(items[:3]):
        with hold([i for i in items if i != free]):
            client = client_for(base, invite(base, f"skipper{n}"))
            assert client.get("/api/next").status_code == 200
            assert given_item(url, f"skipper{n}") == free
    # every item held, released 0.1 s later: the request waits and then gets one
    client = client_for(base, invite(base, "waiter"))
    with hold(items) as holder:
        threading.Timer(0.1, holder.rollback).start()
        assert client.get("/api/next").status_code == 200
    assert given_item(url, "waiter") in items
    # held for good: after its rounds of choosing the app says 503, try again, and gives out nothing
    client = client_for(base, invite(base, "unlucky"))
    with hold(items):
        response = client.get("/api/next")
        assert response.status_code == 503 and response.headers["retry-after"] == "1"
    assert query(url, "SELECT r.name, count(a.id) FROM raters r LEFT JOIN assignments a ON a.rater_id = r.id "
                      "WHERE r.name = 'unlucky' GROUP BY r.name") == {"unlucky": 0}
    assert client.get("/api/next").json()["item"] is not None  # and once they are free, it does


def test_plain_transactions_survive_connections_the_server_dropped(server):
    """The rater's clicks run in Database.plain_transaction, on pooled connections: one the server
    dropped between requests (a restart, an idle timeout) is replaced by the pool's pre-ping; one
    dropped during a request fails that request with the server's own error, keeps nothing of it,
    and the next request gets a working connection."""
    import psycopg

    from mhcompare.judge.store import sql
    from mhcompare.judge.store.db import open_database

    url = fresh_database(server, "dropped")
    database = open_database(url)

    def backend() -> int:
        with database.plain_transaction() as tx:
            return sql.one(tx, "SELECT pg_backend_pid()")[0]

    def drop(pid: int) -> None:  # from another connection; waits (up to 5 s) until it is gone
        assert query(url, f"SELECT pg_terminate_backend({pid}, 5000), 0") == {True: 0}

    first = backend()
    drop(first)
    assert backend() != first
    with pytest.raises(psycopg.errors.AdminShutdown), database.plain_transaction() as tx:
        sql.execute(tx, "INSERT INTO raters (name, token_hash, active, created_at) VALUES ('half', 'h', true, 0)")
        drop(sql.one(tx, "SELECT pg_backend_pid()")[0])
        sql.one(tx, "SELECT 1")
    with database.plain_transaction() as tx:
        assert sql.one(tx, "SELECT COUNT(*) FROM raters")[0] == 0
    database.engine.dispose()
