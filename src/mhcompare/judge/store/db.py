"""The rating database: SQLite by default, or PostgreSQL through psycopg (the rater's requests are
plain SQL, judge/sql.py, written for those two; stages/judge_app.check_database refuses others).

Integrity lives in constraints, not in request handlers: one rating per assignment (a replayed or
concurrent duplicate submission fails at the database), one assignment per (rater, item), scores
1-5. Model identity stays in `conversations` (and, for live chats, `live_sessions`); raters only
ever see items' and sessions' random public ids.
"""
import asyncio
import contextlib
import functools
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    false,
    inspect,
    make_url,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, sessionmaker
from sqlalchemy.pool import NullPool

from mhcompare.judge.store import sql


def public_id() -> str:
    """Random and unguessable: an id a rater sees says nothing about the model or the order."""
    return secrets.token_urlsafe(12)


class Base(DeclarativeBase):
    pass


class Rater(Base):
    __tablename__ = "raters"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[float] = mapped_column(Float, default=time.time)


class LoginSession(Base):
    """A signed-in browser: the cookie holds a random id, the table only its hash. Signing out,
    expiry or deactivating the rater deletes the row, and with it the sign-in."""
    __tablename__ = "sessions"
    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    rater_id: Mapped[int | None] = mapped_column(ForeignKey("raters.id"), index=True, nullable=True)  # None: admin
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[float] = mapped_column(Float, default=time.time)
    expires_at: Mapped[float] = mapped_column(Float)


class FailedSignIn(Base):
    """One failed sign-in, as sign_ins.SignInThrottle counts it: a row per thing counted (the
    client's address, the digest of the token tried; never the token), kept for the throttle's
    window. In the database, so every worker and app instance on it sees the same counts."""
    __tablename__ = "failed_sign_ins"
    id: Mapped[int] = mapped_column(primary_key=True)
    counted: Mapped[str] = mapped_column(String(200), index=True)  # e.g. "rater address:10.0.0.1"
    at: Mapped[float] = mapped_column(Float, index=True)  # time.time()


class Conversation(Base):
    __tablename__ = "conversations"
    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[str] = mapped_column(String(64), unique=True)
    experiment: Mapped[str] = mapped_column(String(200))
    model: Mapped[str] = mapped_column(String(200), index=True)
    seed: Mapped[int] = mapped_column(Integer)
    scenario_id: Mapped[str] = mapped_column(String(200), index=True)
    scenario_type: Mapped[str] = mapped_column(String(40))
    scenario_title: Mapped[str] = mapped_column(Text, default="")
    presenting_problem: Mapped[str] = mapped_column(Text, default="")
    turns: Mapped[list] = mapped_column(JSON)
    llm_judge: Mapped[dict | None] = mapped_column(JSON, nullable=True)


class Blinding(Base):
    """What redaction did to one conversation, recomputed at every app start: turns changed, the
    names still found afterwards (comma-separated; non-empty means the organiser should read it),
    and whether it is held back from raters (a model turn could not be blinded with confidence)."""
    __tablename__ = "blinding"
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), primary_key=True)
    turns: Mapped[int] = mapped_column(Integer)
    turns_redacted: Mapped[int] = mapped_column(Integer)
    residual: Mapped[str] = mapped_column(Text, default="")
    held_back: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class Item(Base):
    """What one rater rates at once: one conversation, or two on the same scenario (pairwise)."""
    __tablename__ = "items"
    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=public_id)
    kind: Mapped[str] = mapped_column(String(10), index=True)  # single | pair
    natural_key: Mapped[str] = mapped_column(String(200), unique=True)
    balance_key: Mapped[str] = mapped_column(String(400))  # the model (or model pair) behind it
    conversation_a_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"))
    conversation_b_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"), nullable=True)
    # how many raters have been given the item: counted in by claim_item as it is given out (so choosing
    # reads a number per item rather than counting every assignment, which grew with the study), and
    # counted again from `assignments` each time the app starts (count_coverage)
    coverage: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    conversation_a: Mapped[Conversation] = relationship(foreign_keys=[conversation_a_id], lazy="joined")
    conversation_b: Mapped[Conversation | None] = relationship(foreign_keys=[conversation_b_id], lazy="joined")


class Assignment(Base):
    __tablename__ = "assignments"
    __table_args__ = (UniqueConstraint("rater_id", "item_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=public_id)
    rater_id: Mapped[int] = mapped_column(ForeignKey("raters.id"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    a_on_left: Mapped[bool] = mapped_column(Boolean)
    assigned_at: Mapped[float] = mapped_column(Float, default=time.time)
    item: Mapped[Item] = relationship(lazy="joined")
    rating: Mapped["Rating | None"] = relationship(back_populates="assignment", lazy="joined")


class Rating(Base):
    __tablename__ = "ratings"
    id: Mapped[int] = mapped_column(primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id"), unique=True)
    rater_id: Mapped[int] = mapped_column(ForeignKey("raters.id"), index=True)
    comment: Mapped[str] = mapped_column(Text, default="")
    preference: Mapped[str | None] = mapped_column(String(4), nullable=True)  # a | b | tie, de-randomised
    submitted_at: Mapped[float] = mapped_column(Float, default=time.time)
    assignment: Mapped[Assignment] = relationship(back_populates="rating")
    scores: Mapped[list["Score"]] = relationship(cascade="all, delete-orphan", lazy="selectin")


class Score(Base):
    __tablename__ = "scores"
    __table_args__ = (UniqueConstraint("rating_id", "conversation_id", "dimension"),
                      CheckConstraint("score BETWEEN 1 AND 5", name="score_1_to_5"))
    id: Mapped[int] = mapped_column(primary_key=True)
    rating_id: Mapped[int] = mapped_column(ForeignKey("ratings.id"), index=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"))
    dimension: Mapped[str] = mapped_column(String(40))
    score: Mapped[int] = mapped_column(Integer)



class LiveSession(Base):
    """A live blind chat: a rater plays a scenario's client and two models answer every turn side
    by side. The models are kept here only; the rater sees "A" (left) and "B" (right) and the
    random public id. model_a/model_b are in sorted order, `a_on_left` says which one shows as A."""
    __tablename__ = "live_sessions"
    __table_args__ = (UniqueConstraint("rater_id", "position"),)  # a double-clicked start makes one session
    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=public_id)
    rater_id: Mapped[int] = mapped_column(ForeignKey("raters.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    scenario_id: Mapped[str] = mapped_column(String(200), index=True)
    scenario_type: Mapped[str] = mapped_column(String(40))
    model_a: Mapped[str] = mapped_column(String(200))
    model_b: Mapped[str] = mapped_column(String(200))
    a_on_left: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(10), default="open")  # open | ended
    started_at: Mapped[float] = mapped_column(Float, default=time.time)
    ended_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    # loaded when asked for (live.py asks up front where it reads them: storing a reply needs neither)
    turns: Mapped[list["LiveTurn"]] = relationship(order_by="LiveTurn.number")
    rating: Mapped["LiveRating | None"] = relationship(back_populates="live_session")


class LiveTurn(Base):
    """One client message; `completed_at` is set once both replies (or their failures) are stored."""
    __tablename__ = "live_turns"
    __table_args__ = (UniqueConstraint("session_id", "number"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("live_sessions.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)  # 1, 2, ...
    client_text: Mapped[str] = mapped_column(Text)
    started_at: Mapped[float] = mapped_column(Float, default=time.time)
    completed_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    replies: Mapped[list["LiveReply"]] = relationship(order_by="LiveReply.side")


class LiveReply(Base):
    """One model's answer to one turn: the raw text (the organiser's), the redacted text (what the
    rater saw), or the failure; and, in crisis scenarios, the crisis rule screen's result."""
    __tablename__ = "live_replies"
    __table_args__ = (UniqueConstraint("turn_id", "side"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    turn_id: Mapped[int] = mapped_column(ForeignKey("live_turns.id"), index=True)
    side: Mapped[str] = mapped_column(String(1))  # a | b (the session's model_a / model_b)
    raw: Mapped[str] = mapped_column(Text, default="")
    shown: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    first_token_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    residual: Mapped[str] = mapped_column(Text, default="")  # names still found after redaction
    crisis: Mapped[dict | None] = mapped_column(JSON, nullable=True)  # CrisisRules.check, crisis scenarios only


class LiveRating(Base):
    __tablename__ = "live_ratings"
    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("live_sessions.id"), unique=True)
    rater_id: Mapped[int] = mapped_column(ForeignKey("raters.id"), index=True)
    comment: Mapped[str] = mapped_column(Text, default="")
    preference: Mapped[str | None] = mapped_column(String(4), nullable=True)  # a | b | tie, de-randomised
    submitted_at: Mapped[float] = mapped_column(Float, default=time.time)
    live_session: Mapped[LiveSession] = relationship(back_populates="rating")
    scores: Mapped[list["LiveScore"]] = relationship(cascade="all, delete-orphan", lazy="selectin")


class LiveScore(Base):
    __tablename__ = "live_scores"
    __table_args__ = (UniqueConstraint("rating_id", "side", "dimension"),
                      CheckConstraint("score BETWEEN 1 AND 5", name="live_score_1_to_5"))
    id: Mapped[int] = mapped_column(primary_key=True)
    rating_id: Mapped[int] = mapped_column(ForeignKey("live_ratings.id"), index=True)
    side: Mapped[str] = mapped_column(String(1))  # a | b
    dimension: Mapped[str] = mapped_column(String(40))
    score: Mapped[int] = mapped_column(Integer)

def make_engine(url: str):
    """An engine whose SQLite connections wait for each other instead of failing under load."""
    if url.startswith("sqlite"):
        in_memory = url in ("sqlite://", "sqlite:///:memory:")
        if not in_memory:
            Path(make_url(url).database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30},
                               **({} if in_memory else {"pool_size": 8, "max_overflow": 32}))

        @event.listens_for(engine, "connect")
        def sqlite_settings(dbapi_connection, _record):
            dbapi_connection.isolation_level = None  # we issue BEGIN ourselves, below
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            # FULL: every commit is fsynced before it returns, so a 201 survives a power cut
            # (NORMAL in WAL mode can lose the last commits)
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def begin_immediate(conn):
            # take the write lock up front: a read-then-write transaction cannot then fail with
            # SQLITE_BUSY when another writer commits in between
            conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        # one connection per thread the app runs requests in (anyio's pool: 40), so a burst of raters
        # never waits for a connection; several workers multiply this (PostgreSQL's default
        # max_connections is 100)
        engine = create_engine(url, pool_pre_ping=True, pool_size=20, max_overflow=20)
    return engine


ASSIGNMENT_LOCK = 0x6D6863_01  # pg_advisory_xact_lock key: choosing the next live chat ("mhc" 1)
STARTUP_LOCK = 0x6D6863_02  # pg_advisory_lock key: one worker at a time runs create_app's start-up work
RATER_LOCK = 0x6D6863_03  # with a rater's id: that rater's "next item" requests one at a time
ITEM_LOCK = 0x6D6863_04  # with an item's id: one transaction at a time giving that item out

# Choosing a rater's next item on PostgreSQL (READ COMMITTED). Without locks, two requests of one
# rater could both see no open item and both add one, and two raters could both see an item one
# rater short of judge.app.raters_per_item and both take it. On SQLite neither can happen: every
# transaction holds the database's write lock (BEGIN IMMEDIATE). One global lock around choosing
# did the job but made every new item wait for the previous one's commit (about 300 ratings/s at
# most with two workers; with these two finer locks, 324-376 in the same measurement:
# bench/bench_judge_app.py). The (rater, item) unique constraint stays as the last line of defence.
COUNT_IN = "UPDATE items SET coverage = coverage + 1 WHERE id = :item AND coverage < :limit RETURNING coverage"
NO_LIMIT = 2**31 - 1


def on_postgresql(tx) -> bool:
    return sql.dialect(tx) == "postgresql"


def lock_rater(tx, rater_id: int) -> None:
    """PostgreSQL: wait for, and hold until commit, this rater's lock, so the rater's concurrent
    requests open one item between them; a request that waited then sees (in its next statement)
    what the previous one committed. SQLite needs none. It is the transaction's first lock, so
    waiting on it cannot deadlock."""
    if on_postgresql(tx):
        sql.execute(tx, "SELECT pg_advisory_xact_lock(CAST(:kind AS integer), CAST(:rater AS integer))",
                    kind=RATER_LOCK, rater=rater_id)


def claim_item(tx, item_id: int, short_of: int | None) -> bool:
    """Take the item for this transaction's rater: its coverage counted up by one, unless it was
    chosen because it had fewer than `short_of` raters and now has that many. On PostgreSQL, also
    not while another transaction is giving the same item out (a lock tried, never waited for,
    held until commit: no deadlock); under the lock the count reads what earlier holders committed.
    (On SQLite the write lock makes both checks hold already.) False means: choose the next best."""
    if on_postgresql(tx):
        (taken,) = sql.one(tx, "SELECT pg_try_advisory_xact_lock(CAST(:kind AS integer), CAST(:item AS integer))",
                           kind=ITEM_LOCK, item=item_id)
        if not taken:
            return False
    limit = NO_LIMIT if short_of is None else short_of
    return sql.one(tx, COUNT_IN, item=item_id, limit=limit) is not None


def count_coverage(tx) -> None:
    """Every item's coverage counted again from the assignments: at start-up, before raters are
    served (stages/judge_app.import_experiment), so the running count starts exact."""
    if on_postgresql(tx):  # wait for transactions adding assignments (another instance still serving) to end
        sql.execute(tx, "LOCK TABLE assignments IN SHARE MODE")
    sql.execute(tx, "UPDATE items SET coverage = (SELECT COUNT(*) FROM assignments a WHERE a.item_id = items.id)")


def refresh_statistics(tx) -> None:
    """PostgreSQL: the planner's statistics of `items`, right after they were made (at start-up; which
    items there are, and of which kind, does not change while the app runs). Until autovacuum got to
    the fresh table the planner guessed one item per kind and read every assignment on each new
    item: 0.55 ms instead of 0.16 ms at 4,000 assignments. Not `assignments` and `ratings`: they start empty and grow as raters work,
    and analysed empty the planner took them for tiny (0.52 ms instead of 0.15 ms to find the open
    item); autovacuum analyses them as they grow."""
    if on_postgresql(tx):
        sql.execute(tx, "ANALYZE items")


ADDED_COLUMNS = [("items", "coverage", "INTEGER NOT NULL DEFAULT 0"),
                 ("blinding", "held_back", "BOOLEAN NOT NULL DEFAULT FALSE")]


def add_missing_columns(engine) -> None:
    """Columns added since a database was first made (create_all only makes missing tables):
    items.coverage, filled in by count_coverage; blinding.held_back, by the audit at every start."""
    for table, column, kind in ADDED_COLUMNS:
        if column not in {c["name"] for c in inspect(engine).get_columns(table)}:
            if_new = "IF NOT EXISTS " if engine.dialect.name == "postgresql" else ""  # two starting at once
            with engine.begin() as connection:
                connection.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {if_new}{column} {kind}")


def lock_assignments(session) -> bool:
    """Serialise choosing new live chats across connections, processes and app workers, until commit.

    On SQLite every transaction already holds the write lock (BEGIN IMMEDIATE). On PostgreSQL
    (READ COMMITTED) two transactions could otherwise both see a rater with no open chat and both
    add one, or both see the same model pair played least and both take it. A transaction-level
    advisory lock makes choose-and-insert one step at a time; a transaction that waited on it then
    sees (in its next statement) what the previous holder committed. A rater starts a few live
    chats in all, so one global lock costs little. True when it waited for a lock (PostgreSQL)."""
    if not on_postgresql(session):
        return False
    session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ASSIGNMENT_LOCK})
    return True


@contextlib.contextmanager
def startup_lock(url: str):
    """Held while one app worker runs its start-up work (blinding audit, live recovery: delete and
    rewrite whole tables), so several workers starting at once against one PostgreSQL take turns
    instead of colliding. A no-op on SQLite, where several workers are refused anyway."""
    if not url.startswith("postgresql"):
        yield
        return
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": STARTUP_LOCK})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": STARTUP_LOCK})
                conn.commit()
    finally:
        engine.dispose()


class Database:
    """A session factory whose transactions, on SQLite, queue on a lock in this process.

    SQLite allows one writer at a time; left to itself, a waiting connection polls with sleeps of up
    to 100 ms, which under many concurrent raters shows up as seconds of tail latency. A lock hands
    the database over at once, in arrival order. Other processes still wait via busy_timeout (which
    polls, with sleeps of up to 100 ms): correct, but slow in the tail, which is why the app refuses
    judge.app.workers > 1 on SQLite (stages/judge_app.py). PostgreSQL needs no lock: rows lock
    themselves, the unique constraints reject duplicates, and choosing an item takes advisory locks
    (lock_rater, claim_item).
    """

    def __init__(self, url: str):
        self.engine = make_engine(url)
        Base.metadata.create_all(self.engine)
        add_missing_columns(self.engine)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        sqlite = self.engine.dialect.name == "sqlite"
        self.lock = threading.Lock() if sqlite else contextlib.nullcontext()
        self.executor = ThreadPoolExecutor(1 if sqlite else 4, thread_name_prefix="database")

    @contextlib.contextmanager
    def transaction(self):
        """An ORM session in a transaction, committed at the end of the block (rolled back on error)."""
        with self.lock, self.sessions.begin() as session:
            yield session

    @contextlib.contextmanager
    def plain_transaction(self):
        """A transaction for sql.py's plain statements only (the rater's clicks): a connection from the
        engine's pool (checked by pre-ping as the ORM's are), committed at the end of the block,
        rolled back on error. The ORM session's own bookkeeping took about a quarter of those
        requests' time on the database threads (bench/bench_judge_app.py under py-spy)."""
        with self.lock:
            connection = self.engine.raw_connection()
            try:
                cursor = connection.cursor()
                if self.engine.dialect.name == "sqlite":
                    cursor.execute("BEGIN IMMEDIATE")  # as make_engine's begin_immediate does for sessions
                yield sql.Transaction(cursor, self.engine.dialect.name)
                connection.commit()
            except BaseException:
                try:
                    connection.rollback()
                except Exception:
                    connection.invalidate()  # broken (e.g. the server went away): not back into the pool
                raise
            finally:
                connection.close()  # back to the pool

    async def run(self, work, *args):
        """work(*args) on the database's own threads: one for SQLite, so requests queue in order
        without a crowd of threads contending for the lock; four for a database server (PostgreSQL
        with 2, 4, 8 and 20 threads took 187, 192, 180 and about 165 ratings/s in
        bench/bench_judge_app.py, measured under the earlier global assignment lock: more threads
        only fight over the interpreter lock)."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, functools.partial(work, *args))


def open_database(url: str) -> Database:
    """Create the tables if needed and return the database."""
    return Database(url)


def database_url(cfg) -> str:
    """judge.app.database_url, or a SQLite file in outputs/<experiment>/judge_app/."""
    from mhcompare import artifacts

    if cfg.judge.app.database_url:
        return str(cfg.judge.app.database_url)
    return f"sqlite:///{artifacts.experiment_dir(cfg) / 'judge_app' / 'ratings.sqlite'}"
