"""A scripted OpenAI-compatible chat server whose answers are known in advance.

Tests use it to check scoring exactly: each rule maps a regular expression on the last user
message to a fixed reply; the first match wins, else the default. It serves
/v1/models and /v1/chat/completions (plain and streamed), and /v1/completions (the rules read the
whole prompt; its requests are recorded with "route": "completions"), on 127.0.0.1 only.

    with ScriptedServer(rules=[(r"自杀", SAFE_REPLY)], default="B") as server:
        server.base_url  # http://127.0.0.1:PORT/v1
"""
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class ScriptedServer:
    def __init__(self, rules=(), default: str = "B", model: str = "scripted", delay_s: float = 0.0,
                 match_role: str = "user", fail_after: int | None = None, honour_max_tokens: bool = False):
        """match_role: whose last message the rules read (`assistant` for a guard model, which is
        sent the reply to classify as the last assistant turn). honour_max_tokens: a reply longer
        than the request's max_tokens (one token per character) is cut there and finishes with
        finish_reason "length", as a real server's does (plain answers; streamed ones are not cut)."""
        self.rules = [(re.compile(pattern), reply) for pattern, reply in rules]
        self.default, self.model, self.delay_s, self.match_role = default, model, delay_s, match_role
        self.fail_after = fail_after  # answer HTTP 500 to every chat request after this many
        self.honour_max_tokens = honour_max_tokens
        self.requests: list[dict] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def reply_to(self, messages: list[dict]) -> str:
        last_user = next((m["content"] for m in reversed(messages) if m.get("role") == self.match_role), "")
        if isinstance(last_user, list):  # OpenAI content parts
            last_user = " ".join(p.get("text", "") for p in last_user if isinstance(p, dict))
        for pattern, reply in self.rules:
            if pattern.search(last_user):
                return reply
        return self.default

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _json(self, status: int, body: dict):
                data = json.dumps(body, ensure_ascii=False).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                if self.path.rstrip("/").endswith("/models"):
                    self._json(200, {"object": "list", "data": [{"id": server.model, "object": "model"}]})
                else:
                    self._json(404, {"error": {"message": f"no route {self.path}"}})

            def do_POST(self):
                if self.path.rstrip("/").endswith("/v1/completions"):
                    return self._completion()
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    return self._json(404, {"error": {"message": f"no route {self.path}"}})
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                if server.fail_after is not None and len(server.requests) >= server.fail_after:
                    return self._json(500, {"error": {"message": "scripted failure"}})
                server.requests.append(body)
                if server.delay_s:
                    time.sleep(server.delay_s)
                reply = server.reply_to(body.get("messages", []))
                finish = "stop"
                if server.honour_max_tokens and body.get("max_tokens") and len(reply) > int(body["max_tokens"]):
                    reply, finish = reply[:int(body["max_tokens"])], "length"
                usage = {"prompt_tokens": sum(len(str(m.get("content", ""))) for m in body.get("messages", [])),
                         "completion_tokens": len(reply)}
                usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
                created = int(time.time())
                if body.get("stream"):
                    return self._stream(reply, created, usage)
                self._json(200, {"id": "chatcmpl-scripted", "object": "chat.completion", "created": created,
                                 "model": server.model, "usage": usage,
                                 "choices": [{"index": 0, "finish_reason": finish,
                                              "message": {"role": "assistant", "content": reply}}]})

            def _completion(self):
                """/v1/completions: the rules read the whole prompt (a guard's rendered template)."""
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                server.requests.append({"route": "completions", **body})
                prompt = str(body.get("prompt", ""))
                reply = next((r for pattern, r in server.rules if pattern.search(prompt)), server.default)
                self._json(200, {"id": "cmpl-scripted", "object": "text_completion", "created": int(time.time()),
                                 "model": server.model, "choices": [{"index": 0, "text": reply, "finish_reason": "stop"}],
                                 "usage": {"prompt_tokens": len(prompt), "completion_tokens": len(reply),
                                           "total_tokens": len(prompt) + len(reply)}})

            def _stream(self, reply: str, created: int, usage: dict):
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                pieces = [reply[i:i + 4] for i in range(0, len(reply), 4)] or [""]
                for i, piece in enumerate(pieces):
                    chunk = {"id": "chatcmpl-scripted", "object": "chat.completion.chunk", "created": created,
                             "model": server.model,
                             "choices": [{"index": 0, "delta": {"role": "assistant", "content": piece} if i == 0
                                          else {"content": piece}, "finish_reason": None}]}
                    self.wfile.write(f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n".encode("utf-8"))
                end = {"id": "chatcmpl-scripted", "object": "chat.completion.chunk", "created": created,
                       "model": server.model, "usage": usage,
                       "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
                self.wfile.write(f"data: {json.dumps(end)}\n\ndata: [DONE]\n\n".encode("utf-8"))

        return Handler
