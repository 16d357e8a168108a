"""Serve a (fine-tuned) model behind an OpenAI-compatible API on a free loopback port.

    with served_model(cfg) as endpoint:      # starts, waits until it answers
        endpoint.base_url, endpoint.model    # http://127.0.0.1:PORT/v1, "<model>-seed<k>"
                                             # stopped on exit, also on failure
"""
from mhcompare.serving.server import Endpoint, served_model

__all__ = ["Endpoint", "served_model"]
