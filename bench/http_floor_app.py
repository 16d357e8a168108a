"""The HTTP stack alone, for bench_judge_app.py's baseline: uvicorn (uvloop, httptools) and FastAPI
with one plain endpoint, as the rating app is served, doing no work of its own.

    uvicorn --app-dir bench http_floor_app:app --loop uvloop --http httptools
"""
from fastapi import FastAPI

app = FastAPI()


@app.get("/ping")
def ping() -> dict:
    return {"ok": True}
