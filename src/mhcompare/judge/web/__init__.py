"""The blind rating web app (stage=judge_app): FastAPI routers, their dependencies, templates and static files."""
