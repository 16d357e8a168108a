"""The statements every rater's click runs, executed on the DB-API connection: about 2 µs a
statement on SQLite where SQLAlchemy's execute costs about 50 µs (bench/bench_judge_app.py,
docs/DESIGN.md). They run in a `Transaction` (db.Database.plain_transaction: a pooled connection
and nothing else, for the rater's clicks) or inside an ORM session's transaction (pages that also
use the ORM), on the connection underneath it.

Written once with :name parameters, which SQLite's driver takes as they are and PostgreSQL's
psycopg gets rewritten as %(name)s (so no literal `%` and no `:word` inside string literals). Rows
come back as the driver gives them: plain numbers and text; a JSON column is text on SQLite and
parsed by psycopg on PostgreSQL (ratings.item_content parses it where needed). One cursor serves a transaction (never committed part-way), and each
statement's rows are read before the next runs. Driver errors are the driver's own (sqlite3,
psycopg), not SQLAlchemy's.
"""
import re
from dataclasses import dataclass

NAMED_PARAMETER = re.compile(r"(?<![:\w]):(\w+)")
_for_dialect: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Transaction:
    """A transaction on a DB-API connection, with no ORM session (db.Database.plain_transaction)."""
    cursor: object
    dialect: str  # sqlite | postgresql


def dialect(tx) -> str:
    """The database a Transaction or an ORM session runs on: sqlite or postgresql."""
    return tx.dialect if isinstance(tx, Transaction) else tx.bind.dialect.name


def execute(tx, statement: str, **params):
    """Run `statement` in the transaction (a Transaction or an ORM session); returns the DB-API cursor."""
    cursor, sql = _cursor(tx, statement)
    cursor.execute(sql, params)
    return cursor


def _cursor(tx, statement: str):
    """The transaction's driver cursor (an ORM session's is made once and kept in session.info), and
    the statement in the driver's parameter style."""
    if isinstance(tx, Transaction):
        cursor, dialect = tx.cursor, tx.dialect
    else:
        found = tx.info.get("driver_cursor")
        if found is None:
            connection = tx.connection()
            found = tx.info["driver_cursor"] = (connection.connection.dbapi_connection.cursor(),
                                                connection.dialect.name)
        cursor, dialect = found
    sql = _for_dialect.get((statement, dialect))
    if sql is None:
        if dialect != "sqlite" and "%" in statement:
            raise ValueError(f"a literal % would be read as a parameter by psycopg: {statement}")
        sql = statement if dialect == "sqlite" else NAMED_PARAMETER.sub(r"%(\1)s", statement)
        _for_dialect[(statement, dialect)] = sql
    return cursor, sql


def one(tx, statement: str, **params) -> tuple | None:
    """The first row, or None."""
    return execute(tx, statement, **params).fetchone()


def all_rows(tx, statement: str, **params) -> list[tuple]:
    return execute(tx, statement, **params).fetchall()

