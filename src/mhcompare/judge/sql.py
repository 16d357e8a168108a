"""The statements every rater's click runs, executed on the DB-API connection underneath the
SQLAlchemy transaction: about 2 µs a statement on SQLite where SQLAlchemy's execute costs about
50 µs, and a rating runs about a dozen (bench/bench_judge_app.py, docs/DESIGN.md).

Written once with :name parameters, which SQLite's driver takes as they are and PostgreSQL's
psycopg gets rewritten as %(name)s (so no literal `%` and no `:word` inside string literals). Only
for rows of plain numbers and text: a JSON column, or anything else needing a SQLAlchemy type, goes
through SQLAlchemy. One cursor serves a session's whole transaction (db.Database.transaction: one
`sessions.begin()` block, never committed part-way), and each statement's rows are read before
the next runs. Driver errors are the driver's own (sqlite3, psycopg), not SQLAlchemy's.
"""
import re

NAMED_PARAMETER = re.compile(r"(?<![:\w]):(\w+)")
_for_dialect: dict[tuple[str, str], str] = {}


def execute(session, statement: str, **params):
    """Run `statement` in the session's transaction; returns the DB-API cursor."""
    cursor, sql = _cursor(session, statement)
    cursor.execute(sql, params)
    return cursor


def _cursor(session, statement: str):
    """The transaction's driver cursor (one per session, kept in session.info), and the statement
    in the driver's parameter style."""
    found = session.info.get("driver_cursor")
    if found is None:
        connection = session.connection()
        found = session.info["driver_cursor"] = (connection.connection.dbapi_connection.cursor(),
                                                 connection.dialect.name)
    cursor, dialect = found
    sql = _for_dialect.get((statement, dialect))
    if sql is None:
        if dialect != "sqlite" and "%" in statement:
            raise ValueError(f"a literal % would be read as a parameter by psycopg: {statement}")
        sql = statement if dialect == "sqlite" else NAMED_PARAMETER.sub(r"%(\1)s", statement)
        _for_dialect[(statement, dialect)] = sql
    return cursor, sql


def one(session, statement: str, **params) -> tuple | None:
    """The first row, or None."""
    return execute(session, statement, **params).fetchone()


def all_rows(session, statement: str, **params) -> list[tuple]:
    return execute(session, statement, **params).fetchall()

