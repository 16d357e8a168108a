"""Human Judge: simulated counselling sessions, a blind rating web app, and their statistics.

    simulate/   stage=judge: an AI client talks with a served counsellor (generate.py over an
                OpenAI-compatible endpoint.py); an LLM judge scores each transcript (llm_judge.py)
    web/        stage=judge_app, the rating web app: app.py assembles it; deps.py says who is asking
                (auth and CSRF as FastAPI dependencies); routes/ signin, rater, admin, live, one
                router each; templates/ and static/ beside them
    store/      the web app's database layer: tables (db.py), plain SQL (sql.py), sign-in sessions,
                failed sign-ins (sign_ins.py), which item a rater sees next (assign.py), ratings,
                live chats, import and export
    stats/      stage=judge_analysis: bootstrap, alpha, Bradley-Terry (analysis.py) and
                human_judge_analysis.md (report.py)

    scenarios.py  rubric.py  redaction.py  identity_names.py  redaction_validation.py  security.py
    live_chat.py
                the pieces more than one wing uses: client personas, dimensions and anchors,
                blinding (a model's self-identification -> "AI 助手", what cannot be cleared held
                back; its vocabulary; its figures on independent sets), tokens/CSRF/throttle/storable
                text, and both live models asked at once

Imports run downward only: web -> store -> the shared pieces; simulate and stats use the shared
pieces and never each other or store/web (tests/test_judge_layout.py).
"""
