"""stage=judge_app: the blind rating web app for an experiment's generated conversations.

    python run.py experiment_name=demo stage=judge_app     # then open http://127.0.0.1:8765/admin

On start it imports every outputs/<experiment>/*/seed*/judge/conversations.jsonl (new ones only)
and makes the rating items; then it serves until stopped (Ctrl-C). With judge.live.enabled, raters
can also chat with two of the models in judge.live.endpoints at once (/live).

judge.app.workers > 1 runs that many uvicorn worker processes on one port; it needs a database
server (judge.app.database_url, e.g. PostgreSQL) and is refused on SQLite (see check_workers).
Failed sign-ins are counted in the database (store/sign_ins.py), so the limit holds across workers.
"""
import base64
import logging
import os
import pickle
import sys

from mhcompare import artifacts
from mhcompare.config import to_plain
from mhcompare.errors import UserError
from mhcompare.judge.store.db import count_coverage, database_url, open_database, refresh_statistics, startup_lock
from mhcompare.judge.store.importing import build_items, conversation_files, import_conversations
from mhcompare.judge.store.ratings import Rules
from mhcompare.judge.rubric import load_rubric
from mhcompare.judge.security import admin_token_problem, new_secret

log = logging.getLogger(__name__)
SETTINGS_ENV = "MHC_JUDGE_APP_SETTINGS"  # the parent's AppSettings, for its worker processes


def check_database(url: str) -> None:
    """SQLite (3.35 or newer) or PostgreSQL through psycopg: the rater's requests are plain SQL
    (judge/sql.py) with RETURNING and ON CONFLICT, in those two drivers' parameter styles."""
    import sqlite3

    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError as e:
        raise UserError(f"judge.app.database_url={url!r} is not a database URL ({e})") from None
    backend, driver = parsed.get_backend_name(), parsed.get_driver_name()
    if backend == "sqlite":
        if sqlite3.sqlite_version_info < (3, 35):
            raise UserError(f"the rating app needs SQLite 3.35 or newer (RETURNING); this Python has "
                            f"{sqlite3.sqlite_version}: use a newer Python, or PostgreSQL")
        return
    if backend != "postgresql" or driver not in ("psycopg", "psycopg2"):
        raise UserError(f"judge.app.database_url: the rating app runs on SQLite or on PostgreSQL through psycopg "
                        f"(postgresql+psycopg://user@host/db), not {backend}+{driver}")


def check_workers(workers: int, url: str) -> None:
    """Several workers only with a database server.

    SQLite is refused: it has one writer at a time and every app transaction takes the write lock
    (BEGIN IMMEDIATE), so more processes add no throughput; and the in-process lock that hands the
    database over at once (db.Database) no longer covers the other workers, whose transactions then
    wait in SQLite's busy handler (polling with sleeps of up to 100 ms): still correct, but slower
    in the tail than one worker. An in-memory database would even be a separate one per worker."""
    if workers < 1:
        raise UserError(f"judge.app.workers must be at least 1, not {workers}")
    if workers > 1 and url.startswith("sqlite"):
        raise UserError(f"judge.app.workers={workers} needs a database server: set judge.app.database_url to "
                        "PostgreSQL (postgresql+psycopg://user@host/db). SQLite serves one writer at a time, "
                        "so run it with judge.app.workers=1 (the default)")


def worker_app():
    """One uvicorn worker's app (uvicorn --factory), from the settings the parent left in SETTINGS_ENV.
    Workers run create_app's start-up work (blinding audit, live recovery) one at a time."""
    from mhcompare.judge.web.app import create_app

    settings = pickle.loads(base64.b64decode(os.environ[SETTINGS_ENV]))  # written by run() below, not user input
    with startup_lock(settings.database_url):
        return create_app(settings)


def app_settings(cfg, admin_token: str):
    from mhcompare.judge.web.app import AppSettings

    a = cfg.judge.app
    rubric = load_rubric(cfg.judge.rubric)
    rules = Rules(kind="pair" if a.mode == "pairwise" else "single", dimensions=tuple(d.key for d in rubric),
                  items_per_rater=int(a.items_per_rater), raters_per_item=int(a.raters_per_item),
                  max_comment_chars=int(a.max_comment_chars))
    return AppSettings(database_url=database_url(cfg), rules=rules, rubric=tuple(rubric), admin_token=admin_token,
                       redact=tuple(to_plain(cfg.judge.redact) or ()), secure_cookies=bool(a.secure_cookies),
                       max_body_bytes=int(a.max_body_bytes), live=live_settings(cfg),
                       trusted_proxies=tuple(str(p) for p in (to_plain(a.get("trusted_proxies")) or ())))


def live_endpoint(name: str, node):
    """One judge.live.endpoints entry; its key only from the variable `api_key_env` names."""
    from mhcompare.judge.live_chat import LiveEndpoint

    if not node or not node.get("base_url") or not node.get("model"):
        raise UserError(f"judge.live.endpoints.{name}: give base_url (an OpenAI-compatible .../v1) and model")
    key_env = node.get("api_key_env")
    api_key = os.environ.get(key_env) if key_env else None
    if key_env and not api_key:
        raise UserError(f"judge.live.endpoints.{name} needs an API key: export {key_env}=... (keys are read from the "
                        "environment only; set api_key_env to null for a local server without one)")
    return LiveEndpoint(name=name, base_url=str(node.base_url), model=str(node.model), api_key=api_key)


def live_settings(cfg):
    """judge.live resolved, or None when live chats are off."""
    from mhcompare.eval.crisis import CrisisRules
    from mhcompare.judge.store.live import LiveSettings
    from mhcompare.judge.live_chat import Generation
    from mhcompare.judge.scenarios import load_scenarios, load_support_lines

    c = cfg.judge.get("live")
    if not c or not c.enabled:
        return None
    endpoints = tuple(live_endpoint(str(name), node) for name, node in (c.endpoints or {}).items())
    if len(endpoints) < 2:
        raise UserError("judge.live.enabled needs at least two models in judge.live.endpoints "
                        "(judge.live.endpoints.<model>: {base_url, model, api_key_env})")
    scenarios = load_scenarios(cfg.judge.scenarios, to_plain(cfg.judge.scenario_types), cfg.judge.scenarios_per_type)
    support = load_support_lines(cfg.judge.scenarios) or [str(line) for line in c.support_lines or ()]
    return LiveSettings(endpoints=endpoints, scenarios=tuple(scenarios),
                        generation=Generation(max_tokens=int(c.max_tokens), temperature=float(c.temperature),
                                              timeout_s=float(c.timeout_s)),
                        max_turns=int(c.max_turns), sessions_per_rater=int(c.sessions_per_rater),
                        max_message_chars=int(c.max_message_chars), system_prompt=str(c.system_prompt or ""),
                        support_lines=tuple(support), crisis_rules=CrisisRules.load(cfg.eval.crisis.rules))


def import_experiment(cfg) -> dict:
    """Load new conversations, make the items for the configured mode, count how many raters each
    item has, and (PostgreSQL) refresh the planner's statistics; before any worker serves raters."""
    files = conversation_files(artifacts.experiment_dir(cfg))
    database = open_database(database_url(cfg))
    with database.transaction() as session:
        added = import_conversations(session, str(cfg.experiment_name), files)
        items = build_items(session, str(cfg.judge.app.mode))
        count_coverage(session)
        refresh_statistics(session)
    return {"files": len(files), "conversations_added": added, "items_added": items}


def admin_token(cfg) -> str:
    """The organiser's token: from judge.app.admin_token_env, refused if weak; else a fresh 256-bit one.

    A generated token is written to the console only (stderr, not through logging), so it never
    lands in the Hydra job log or any other log file.
    """
    name = cfg.judge.app.admin_token_env
    token = os.environ.get(name) if name else None
    if token:
        problem = admin_token_problem(token)
        if problem:
            raise UserError(f"{name}: {problem}")
        return token
    token = new_secret()
    print(f"judge_app: {name or 'no admin token variable'} is not set; this run's admin token "
          f"(shown once, on this console only):\n\n    {token}\n", file=sys.stderr, flush=True)
    return token


def run(cfg) -> dict:
    import uvicorn

    from mhcompare.judge.web.app import create_app

    workers = int(cfg.judge.app.get("workers") or 1)
    check_database(database_url(cfg))
    check_workers(workers, database_url(cfg))
    token = admin_token(cfg)  # first: a weak configured token stops the stage before any work
    imported = import_experiment(cfg)
    if imported["files"] == 0:
        log.warning("judge_app: no conversations under %s yet; run stage=judge first "
                    "(the app imports new ones each time it starts)", artifacts.experiment_dir(cfg))
    log.info("judge_app: %s", imported)
    settings = app_settings(cfg, token)
    app = create_app(settings)  # with several workers too: bad settings stop the stage here, once
    host, port = str(cfg.judge.app.host), int(cfg.judge.app.port)
    log.info("judge_app: raters sign in at http://%s:%d/login, the organiser at http://%s:%d/admin (%d worker%s)",
             host, port, host, port, workers, "s" if workers > 1 else "")
    # httptools (a C HTTP parser) and, where it installs (not on Windows), uvloop, both in the judge
    # extra: with uvicorn's pure-Python h11 parser the app took about 10% more CPU per rating
    # (bench/bench_judge_app.py)
    server = {"host": host, "port": port, "log_level": "warning", "proxy_headers": False, "loop": "auto",
              "http": "httptools"}
    if workers == 1:
        uvicorn.run(app, **server)
    else:
        del app
        # the workers are spawned processes: they get the settings (admin token included) through
        # this process's environment, which only its user can read, never through a file
        os.environ[SETTINGS_ENV] = base64.b64encode(pickle.dumps(settings)).decode()
        uvicorn.run(f"{__name__}:worker_app", factory=True, workers=workers, **server)
    return imported
