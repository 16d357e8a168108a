"""The simulated counselling sessions (stage=judge): an AI client talks with a served counsellor, an LLM judge scores the transcript."""
