"""Human Judge: simulated counselling sessions, a blind rating web app, and their statistics.

    scenarios.py   client personas (the YAML bank)      rubric.py     dimensions and 1-5 anchors
    endpoint.py    an OpenAI-compatible chat model      generate.py   AI client x served counsellor
    llm_judge.py   an LLM scores a transcript           db.py         the rating database (SQLAlchemy)
    importing.py   conversations.jsonl -> items         assign.py     which item a rater sees next
    ratings.py     submit, progress, export             app.py        the FastAPI web app and JSON API
    redaction.py   model self-identification -> "AI 助手" blinding.py  what redaction changed, per model
    security.py    CSRF, sign-in throttle, admin token  sessions.py   server-side browser sign-ins
    analysis.py    bootstrap, alpha, Bradley-Terry      report.py     human_judge_analysis.md and plots
    live.py        live blind chats: sessions, ratings  live_chat.py  both models asked at once, streamed
    live_app.py    the live chat's routes (/live, /api/live/...)
"""
