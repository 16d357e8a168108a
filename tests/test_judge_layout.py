"""The Human Judge's layout (docs/DESIGN.md): imports only run downward, and the web app's files ship.

    web/                       the rating web app              top
    store/ simulate/ stats/    three wings that never import one another
    judge/*.py                 pieces more than one wing uses   bottom

Read from the source with ast, so a function-level import counts too."""
import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
JUDGE = ROOT / "src" / "mhcompare" / "judge"
LAYERS = {"web": 3, "store": 2, "simulate": 2, "stats": 2, "": 1}  # "": a module at judge/ itself


def wing(module: str) -> str:
    """mhcompare.judge.store.db -> store; mhcompare.judge.rubric -> "" (the shared pieces)."""
    parts = module.split(".")[2:]
    return parts[0] if len(parts) > 1 and parts[0] in LAYERS else ""


def imported(tree: ast.AST) -> set[str]:
    """Every mhcompare module a file imports (`from pkg import name` counts as pkg.name)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in found if name.startswith("mhcompare.")}


def judge_imports() -> list[tuple[str, str]]:
    """(importing module, imported module) for every file under judge/."""
    edges = []
    for path in sorted(JUDGE.rglob("*.py")):
        module = ".".join(("mhcompare", *path.relative_to(JUDGE.parent).with_suffix("").parts))
        edges += [(module, target) for target in sorted(imported(ast.parse(path.read_text(encoding="utf-8"))))]
    return edges


def upward(edges) -> list[str]:
    wrong = []
    for source, target in edges:
        if not target.startswith("mhcompare.judge."):
            if target.startswith(("mhcompare.stages", "mhcompare.report")):
                wrong.append(f"{source} imports {target}: the judge package sits below the stages")
            continue
        here, there = wing(source), wing(target)
        if here != there and LAYERS[there] >= LAYERS[here]:
            wrong.append(f"{source} ({here or 'judge/'}) imports {target} ({there or 'judge/'})")
    return wrong


def test_judge_imports_only_run_downward():
    edges = judge_imports()
    assert len(edges) > 40, "found too few imports: is JUDGE the right folder?"
    assert upward(edges) == []


def test_the_check_sees_an_upward_import():
    """The rule above must be able to fail: a store module importing the web app, one wing importing
    another, a shared piece importing a wing."""
    assert upward([("mhcompare.judge.store.ratings", "mhcompare.judge.web.deps")])
    assert upward([("mhcompare.judge.stats.report", "mhcompare.judge.store.db")])
    assert upward([("mhcompare.judge.security", "mhcompare.judge.store.sessions")])
    assert upward([("mhcompare.judge.web.app", "mhcompare.stages.judge_app")])
    assert not upward([("mhcompare.judge.web.app", "mhcompare.judge.store.db"),
                       ("mhcompare.judge.store.sessions", "mhcompare.judge.security"),
                       ("mhcompare.judge.web.routes.live", "mhcompare.judge.web.deps")])


def test_the_web_apps_templates_and_static_files_are_package_data():
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["mhcompare"]
    package = JUDGE.parent
    shipped = {p for pattern in globs for p in package.glob(pattern) if p.is_file()}
    for folder in ("templates", "static"):
        files = [p for p in (JUDGE / "web" / folder).iterdir() if p.is_file()]
        assert files, f"no files in judge/web/{folder}"
        assert set(files) <= shipped, f"judge/web/{folder} is not in pyproject's package-data"


# the web app's routers: who may call each route is declared, and no POST goes without its CSRF check
SIGN_IN = {("GET", "/"), ("GET", "/login"), ("POST", "/login"), ("GET", "/admin/login"), ("POST", "/admin/login")}


def callers(route) -> list:
    """The `Asking` dependencies (web/deps.py) a route declares."""
    from mhcompare.judge.web.deps import Asking

    return [d.call for d in route.dependant.dependencies if isinstance(d.call, Asking)]


def unguarded(routers) -> list[str]:
    wrong = []
    for router in routers:
        for route in router.routes:
            for method in route.methods:
                asking = callers(route)
                if (method, route.path) in SIGN_IN:  # the sign-in forms check their own CSRF cookie
                    continue
                if len(asking) != 1:
                    wrong.append(f"{method} {route.path}: declares no caller (RaterApi, AdminForm, ...)")
                elif asking[0].posting != (method == "POST"):
                    wrong.append(f"{method} {route.path}: posting={asking[0].posting}")
                elif asking[0].admin != (route.path.startswith(("/admin", "/api/admin"))):
                    wrong.append(f"{method} {route.path}: admin={asking[0].admin}")
    return wrong


def test_every_route_declares_who_may_call_it_and_every_post_checks_csrf():
    from mhcompare.judge.web.routes import admin, live, rater, signin

    routers = (signin.router, rater.router, admin.router, live.router)
    assert sum(len(r.routes) for r in routers) >= 30
    assert unguarded(routers) == []


def test_the_route_check_sees_a_post_without_csrf():
    from fastapi import APIRouter

    from mhcompare.judge.web.deps import AdminApi, RaterApi

    def anyone(caller: str):  # no caller at all
        pass

    def rate(caller: RaterApi):  # a POST with the reading (no CSRF) dependency
        pass

    def raters(caller: AdminApi):  # the organiser's dependency on a rater's route
        pass

    router = APIRouter()
    router.post("/api/ratings")(anyone)
    router.post("/api/next")(rate)
    router.get("/api/progress")(raters)
    assert [line.split(":")[0] for line in unguarded([router])] == [
        "POST /api/ratings", "POST /api/next", "GET /api/progress"]
