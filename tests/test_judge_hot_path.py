"""A rater's click is a handful of SQL statements (judge/sql.py, judge/ratings.py). The app's
throughput rests on it (bench/bench_judge_app.py measures that); here it is counted, not timed,
on SQLite's own record of what ran, and the rating that comes out is read back."""
import pytest
from support.browser import write_conversations

from mhcompare.judge import sql
from mhcompare.judge.db import Rater, open_database
from mhcompare.judge.importing import build_items, conversation_files, import_conversations
from mhcompare.judge.ratings import (
    AlreadyRated,
    Rules,
    current_assignment,
    export_rows,
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
    """work(session) in one transaction; returns its result and the SQL statements SQLite ran for it."""
    with database.transaction() as session:
        driver = session.connection().connection.dbapi_connection
        ran = []
        driver.set_trace_callback(ran.append)
        try:
            result = work(session)
        finally:
            driver.set_trace_callback(None)
    return result, ran


def test_next_item_and_rating_take_a_handful_of_statements_and_store_the_rating(study):
    database, rules = study
    rater, ran = counted(database, lambda s: rater_for_token(s, "hash-of-r1"))
    assert rater.name == "r1" and len(ran) == 1
    (item, shown), ran = counted(database, lambda s: (current_assignment(s, rater, rules), progress(s, rater, rules)))
    assert shown == {"done": 0, "total": 5}
    assert len(ran) == 4, ran  # open item?, choose among candidates, insert the assignment, progress
    scores = {"left": dict.fromkeys(DIMENSIONS, 2), "right": dict.fromkeys(DIMENSIONS, 5)}
    payload = {"scores": scores, "comment": "右边更好", "preference": "right"}
    (rating_id, shown), ran = counted(database, lambda s: (submit(s, rater, item.public_id, payload, rules),
                                                           progress(s, rater, rules)))
    assert shown == {"done": 1, "total": 5}
    assert len(ran) == 4, ran  # the assignment, insert the rating, insert its 8 scores at once, progress
    # the same item again: still open? no; the next one is chosen
    (again, _), ran = counted(database, lambda s: (current_assignment(s, rater, rules), progress(s, rater, rules)))
    assert again.public_id != item.public_id and again.position == 2

    with database.transaction() as session:
        rows, votes = export_rows(session)
    mine = [r for r in rows if r["rating_id"] == rating_id]
    assert len(mine) == 8 and {r["dimension"] for r in mine} == set(DIMENSIONS)
    assert {r["shown_on"]: r["score"] for r in mine} == {"left": 2, "right": 5}
    right_model = next(r["model"] for r in mine if r["shown_on"] == "right")
    assert votes[0]["winner"] == right_model and votes[0]["comment"] == "右边更好"


def test_a_replayed_rating_is_refused_and_stores_nothing(study):
    database, rules = study
    with database.transaction() as session:
        rater = rater_for_token(session, "hash-of-r1")
        item = current_assignment(session, rater, rules)
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
