"""A rater's click is a handful of SQL statements (judge/sql.py, judge/ratings.py). The app's
throughput rests on it (bench/bench_judge_app.py measures that); here it is counted, not timed,
on SQLite's own record of what ran, and the rating that comes out is read back."""
from collections import Counter

import pytest
from support.browser import write_conversations

from mhcompare.judge.store import sql
from mhcompare.judge.store.db import Rater, claim_item, count_coverage, open_database
from mhcompare.judge.store.importing import build_items, conversation_files, import_conversations
from mhcompare.judge.store.ratings import (
    AlreadyRated,
    Current,
    NotFound,
    Rules,
    current_assignment,
    export_rows,
    item_content,
    progress,
    rater_for_token,
    submit,
)

DIMENSIONS = ("professionalism", "empathy", "practicality", "safety")


@pytest.fixture
def study(tmp_path):
    write_conversations(tmp_path / "exp", ["m1", "m2", "m3"], seeds=(0,))  # 9 pairwise items
    database = open_database(f"sqlite:///{tmp_path / 'ratings.sqlite'}")
    with database.transaction() as session:
        import_conversations(session, "exp", conversation_files(tmp_path / "exp"))
        build_items(session, "pairwise")
        session.add(Rater(name="r1", token_hash="hash-of-r1"))
    return database, Rules("pair", DIMENSIONS, items_per_rater=5, raters_per_item=3, max_comment_chars=100)


def counted(database, work):
    """work(tx) in one plain transaction, as the app runs a rater's click; returns its result and the
    SQL statements SQLite ran for it."""
    with database.plain_transaction() as tx:
        driver = tx.cursor.connection
        ran = []
        driver.set_trace_callback(ran.append)
        try:
            result = work(tx)
        finally:
            driver.set_trace_callback(None)
    return result, ran


def test_next_item_and_rating_take_a_handful_of_statements_and_store_the_rating(study):
    database, rules = study
    rater, ran = counted(database, lambda s: rater_for_token(s, "hash-of-r1"))
    assert rater.name == "r1" and len(ran) == 1
    current, ran = counted(database, lambda s: current_assignment(s, rater, rules))
    assert current.progress == {"done": 0, "total": 5}
    # open item?, the candidates (with progress), count the rater in on the chosen item, insert the assignment
    assert len(ran) == 4, ran
    item = current.item
    # a reload: the same open item, and progress counted (the one case that needs its own statement)
    reloaded, ran = counted(database, lambda s: current_assignment(s, rater, rules))
    assert reloaded == current and len(ran) == 2, ran
    scores = {"left": dict.fromkeys(DIMENSIONS, 2), "right": dict.fromkeys(DIMENSIONS, 5)}
    payload = {"scores": scores, "comment": "右边更好", "preference": "right"}
    stored, ran = counted(database, lambda s: submit(s, rater, item.public_id, payload, rules))
    assert stored.progress == {"done": 1, "total": 5}
    assert len(ran) == 3, ran  # the assignment (with progress), insert the rating, insert its 8 scores at once
    # the same item again: still open? no; the next one is chosen
    again, ran = counted(database, lambda s: current_assignment(s, rater, rules))
    assert again.item.public_id != item.public_id and again.item.position == 2
    assert again.progress == {"done": 1, "total": 5}
    with database.transaction() as session:
        assert progress(session, rater, rules) == {"done": 1, "total": 5}  # the progress endpoint agrees

    with database.transaction() as session:
        rows, votes = export_rows(session)
    mine = [r for r in rows if r["rating_id"] == stored.rating_id]
    assert len(mine) == 8 and {r["dimension"] for r in mine} == set(DIMENSIONS)
    assert {r["shown_on"]: r["score"] for r in mine} == {"left": 2, "right": 5}
    right_model = next(r["model"] for r in mine if r["shown_on"] == "right")
    assert votes[0]["winner"] == right_model and votes[0]["comment"] == "右边更好"


@pytest.mark.parametrize("items_per_rater", [5, 20])  # 20: more than the study's 9 items
def test_the_progress_that_comes_with_each_answer_is_the_counted_progress(study, items_per_rater):
    database, rules = study
    rules = Rules("pair", DIMENSIONS, items_per_rater, raters_per_item=3, max_comment_chars=100)
    payload = {"scores": {"left": dict.fromkeys(DIMENSIONS, 3), "right": dict.fromkeys(DIMENSIONS, 3)}}
    with database.transaction() as session:
        rater = rater_for_token(session, "hash-of-r1")
    answers = []
    while True:
        with database.transaction() as session:
            current = current_assignment(session, rater, rules)
            answers.append((current.progress, progress(session, rater, rules)))
            if current.item is None:
                break
            stored = submit(session, rater, current.item.public_id, payload, rules)
            answers.append((stored.progress, progress(session, rater, rules)))
    assert all(carried == counted for carried, counted in answers), answers
    assert answers[-1][0] == {"done": min(items_per_rater, 9), "total": min(items_per_rater, 9)}


def coverage(database) -> tuple[dict, dict]:
    """(each item's running count of raters, the count of its assignments)"""
    with database.transaction() as session:
        return (dict(sql.all_rows(session, "SELECT id, coverage FROM items")),
                dict(sql.all_rows(session, "SELECT i.id, COUNT(a.id) FROM items i "
                                           "LEFT JOIN assignments a ON a.item_id = i.id GROUP BY i.id")))


def test_each_item_counts_the_raters_it_was_given_and_a_database_from_before_gets_the_count(study, tmp_path):
    database, rules = study
    with database.transaction() as session:
        for i in range(4):
            session.add(Rater(name=f"r{i + 2}", token_hash=f"hash-{i}"))
    for i in range(4):
        with database.transaction() as session:
            rater = rater_for_token(session, f"hash-{i}")
            for _ in range(3):
                item = current_assignment(session, rater, rules).item
                submit(session, rater, item.public_id, {"scores": {
                    "left": dict.fromkeys(DIMENSIONS, 3), "right": dict.fromkeys(DIMENSIONS, 3)}}, rules)
    running, counted = coverage(database)
    assert running == counted and sum(counted.values()) == 12

    # a database made before items.coverage existed: the column is added, and counted at start-up
    with database.transaction() as session:
        sql.execute(session, "ALTER TABLE items DROP COLUMN coverage")
    database.engine.dispose()
    reopened = open_database(f"sqlite:///{tmp_path / 'ratings.sqlite'}")
    assert set(coverage(reopened)[0].values()) == {0}
    with reopened.transaction() as session:
        count_coverage(session)
    assert coverage(reopened) == (counted, counted)


def test_a_plain_transaction_keeps_all_of_a_request_or_nothing(study):
    database, _ = study
    with pytest.raises(RuntimeError), database.plain_transaction() as tx:
        sql.execute(tx, "INSERT INTO raters (name, token_hash, active, created_at) VALUES ('half', 'h', 1, 0)")
        raise RuntimeError("the request fails half-way")
    assert database.engine.pool.checkedout() == 0  # the connection went back to the pool
    with database.plain_transaction() as tx:
        sql.execute(tx, "INSERT INTO raters (name, token_hash, active, created_at) VALUES ('whole', 'w', 1, 0)")
    with database.transaction() as session:
        assert {name for (name,) in sql.all_rows(session, "SELECT name FROM raters")} == {"r1", "whole"}
    assert database.engine.pool.checkedout() == 0


def test_an_item_chosen_because_it_needs_raters_is_taken_only_while_it_still_does(study):
    database, _ = study
    with database.plain_transaction() as tx:
        item = sql.one(tx, "SELECT id FROM items ORDER BY id LIMIT 1")[0]
        sql.execute(tx, "UPDATE items SET coverage = 3 WHERE id = :item", item=item)
        assert not claim_item(tx, item, short_of=3)  # filled up since it was chosen
        assert claim_item(tx, item, short_of=4)
        assert claim_item(tx, item, short_of=None)  # chosen although it has enough: counted in all the same
        assert sql.one(tx, "SELECT coverage FROM items WHERE id = :item", item=item)[0] == 5


def test_a_replayed_rating_is_refused_and_stores_nothing(study):
    database, rules = study
    with database.transaction() as session:
        rater = rater_for_token(session, "hash-of-r1")
        item = current_assignment(session, rater, rules).item
    payload = {"scores": {"left": dict.fromkeys(DIMENSIONS, 3), "right": dict.fromkeys(DIMENSIONS, 3)}}
    with database.transaction() as session:
        submit(session, rater, item.public_id, payload, rules)
    with pytest.raises(AlreadyRated), database.transaction() as session:
        submit(session, rater, item.public_id, payload, rules)
    with database.transaction() as session:
        assert len(export_rows(session)[0]) == 8


def test_statements_are_rewritten_for_postgresql_parameters_only_where_they_are_parameters():
    statement = "SELECT a::text, '12:30' FROM t WHERE x = :rater AND y = :kind_2"
    assert sql.NAMED_PARAMETER.sub(r"%(\1)s", statement) == \
        "SELECT a::text, '12:30' FROM t WHERE x = %(rater)s AND y = %(kind_2)s"


@pytest.mark.parametrize("url, problem", [
    ("mysql+pymysql://u@h/db", "SQLite or on PostgreSQL through psycopg"),
    ("postgresql+asyncpg://u@h/db", "not postgresql\\+asyncpg"),
    ("not a url", "is not a database URL"),
])
def test_databases_the_plain_sql_was_not_written_for_are_refused(url, problem):
    from mhcompare.errors import UserError
    from mhcompare.stages.judge_app import check_database

    with pytest.raises(UserError, match=problem):
        check_database(url)
    check_database("sqlite:///x.sqlite")
    check_database("postgresql+psycopg://u@h/db")


def test_a_change_of_mode_is_a_round_of_its_own(tmp_path):
    """judge.app.mode switched on one database (pairs first, then single conversations, then back):
    raters are given, shown and counted only items of the current kind, so those who finished the
    pairs still rate the single conversations, and an open item of the other kind waits for its round."""
    write_conversations(tmp_path / "exp", ["m1", "m2", "m3"], seeds=(0,))  # 9 conversations: 9 pairs, 9 singles
    database = open_database(f"sqlite:///{tmp_path / 'ratings.sqlite'}")
    with database.transaction() as session:
        import_conversations(session, "exp", conversation_files(tmp_path / "exp"))
        build_items(session, "pairwise")
        build_items(session, "single")
        session.add(Rater(name="r1", token_hash="hash-of-r1"))
    pairs = Rules("pair", DIMENSIONS, items_per_rater=2, raters_per_item=3, max_comment_chars=100)
    singles = Rules("single", DIMENSIONS, items_per_rater=3, raters_per_item=3, max_comment_chars=100)
    scores = {"pair": {"scores": {"left": dict.fromkeys(DIMENSIONS, 3), "right": dict.fromkeys(DIMENSIONS, 3)}},
              "single": {"scores": {"conversation": dict.fromkeys(DIMENSIONS, 4)}}}

    def rate(rules: Rules) -> Current:
        with database.plain_transaction() as tx:
            current = current_assignment(tx, rater, rules)
            if current.item is not None:
                assert item_content(tx, current.item.item_id).kind == rules.kind
                stored = submit(tx, rater, current.item.public_id, scores[rules.kind], rules)
                assert stored.progress == progress(tx, rater, rules)
            return current

    with database.plain_transaction() as tx:
        rater = rater_for_token(tx, "hash-of-r1")
    while rate(pairs).item is not None:
        pass
    with database.plain_transaction() as tx:
        assert current_assignment(tx, rater, pairs) == Current(None, {"done": 2, "total": 2})
        single = current_assignment(tx, rater, singles)  # opens a single item
        assert single.progress == {"done": 0, "total": 3}
        assert single.item.position == 3  # the rater's third item (positions count both kinds)
        with pytest.raises(NotFound):  # not rated in the pairs' round
            submit(tx, rater, single.item.public_id, scores["single"], pairs)
    with database.plain_transaction() as tx:  # back to pairs: done; the single item waits for its round
        assert current_assignment(tx, rater, pairs) == Current(None, {"done": 2, "total": 2})
    with database.plain_transaction() as tx:
        assert current_assignment(tx, rater, singles).item == single.item  # continued
        assert submit(tx, rater, single.item.public_id, scores["single"], singles).progress == {"done": 1, "total": 3}
    assert rate(singles).progress == {"done": 1, "total": 3}
    with database.plain_transaction() as tx:
        assert current_assignment(tx, rater, singles).progress == {"done": 2, "total": 3}
    with database.transaction() as session:
        rows, votes = export_rows(session)
    assert Counter(row["item_kind"] for row in rows) == {"pair": 2 * 2 * 4, "single": 2 * 4} and len(votes) == 0
