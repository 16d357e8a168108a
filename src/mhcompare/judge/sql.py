"""The statements every rater's click runs, executed on the DB-API connection underneath the
SQLAlchemy transaction: about 2 µs a statement on SQLite where SQLAlchemy's execute costs about
50 µs, and a rating runs about a dozen (bench/bench_judge_app.py, docs/DESIGN.md).

Written once with :name parameters, which SQLite's driver takes as they are and PostgreSQL's
psycopg gets rewritten as %(name)s. Only for rows of plain numbers and text: a JSON column, or
anything else needing a SQLAlchemy type, goes through SQLAlchemy.
"""
import re

NAMED_PARAMETER = re.compile(r"(?<![:\w]):(\w+)")
_for_dialect: dict[tuple[str, str], str] = {}


def execute(session, statement: str, **params):
    """Run `statement` in the session's transaction; returns the DB-API cursor."""
    cursor, sql = _cursor(session, statement)
    cursor.execute(sql, params)
    return cursor


def execute_many(session, statement: str, rows: list[dict]) -> None:
    """Run `statement` once for each of `rows` (the parameters of each)."""
    if rows:
        cursor, sql = _cursor(session, statement)
        cursor.executemany(sql, rows)


def _cursor(session, statement: str):
    """A cursor of the transaction's driver connection, and the statement in its parameter style."""
    connection = session.connection()
    dialect = connection.dialect.name
    sql = _for_dialect.get((statement, dialect))
    if sql is None:
        sql = statement if dialect == "sqlite" else NAMED_PARAMETER.sub(r"%(\1)s", statement)
        _for_dialect[(statement, dialect)] = sql
    return connection.connection.dbapi_connection.cursor(), sql


def one(session, statement: str, **params) -> tuple | None:
    """The first row, or None."""
    return execute(session, statement, **params).fetchone()


def all_rows(session, statement: str, **params) -> list[tuple]:
    return execute(session, statement, **params).fetchall()

