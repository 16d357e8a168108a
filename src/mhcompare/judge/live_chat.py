"""One live chat turn: both models asked at once, their replies streamed to the rater, redacted.

The client's words go to two OpenAI-compatible endpoints concurrently (a thread each); their
streamed tokens become events for the browser, tagged "A"/"B", never with a model name:

    delta   {side, text}     more of the reply (append it)
    replace {side, text}     the reply so far, when redaction changed text already shown
    reply   {side, text}     the whole reply, redacted: what is stored for display
    failed  {side, message}  this side timed out or failed; the other side carries on

Redaction needs context ("Qw" is a name only once "en" arrives, "Meta" only before "AI"), so the
last HOLD_BACK words of a reply (a Chinese character is a word; spaces and newlines are not, so
padding cannot push a name out of the window) are shown only when more text, or the end, arrives:
what is on screen is always the redaction of the reply so far, less that tail. Should the whole
reply's redaction not begin with some text already shown, the reply is flagged (`exposed`) for the
organiser. A side that has not
finished `timeout_s` after the turn began is cut off and recorded as failed, with its error kept
for the organiser; the rater sees a neutral message (an endpoint's error text may name the model).
"""
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx

from mhcompare.judge.redaction import Redactor

HOLD_BACK = 24    # words of a streamed reply kept back until the text after them is known
EMIT_EVERY = 12   # new characters between two redactions of the reply so far (each costs ~0.5 ms) ...
EMIT_GAP_S = 0.05  # ... and at most 20 a second: smooth to read, and cheap when a model is very fast
WORD = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]|[^\W_]+|[^\w\s]|_")  # whitespace is never a word
FAILED_MESSAGE = "这一侧的咨询师这一轮没有回应（超时或出错），已记录。你可以继续对话，或结束对话后评分。"


class ModelFailed(Exception):
    """The endpoint could not give a complete reply; the text is for the organiser only."""


@dataclass(frozen=True)
class LiveEndpoint:
    """A model as the organiser configured it (judge.live.endpoints.<name>); server-side only."""
    name: str          # the model, as the study's results name it
    base_url: str      # .../v1
    model: str         # the name the server is asked for
    api_key: str | None = None


@dataclass(frozen=True)
class Generation:
    max_tokens: int = 512
    temperature: float = 0.7
    timeout_s: float = 60.0


@dataclass
class SideResult:
    """One side's outcome: the raw reply and its redaction, or the error."""
    label: str                      # A | B, as the rater sees it
    raw: str = ""
    shown: str = ""
    error: str | None = None
    first_token_s: float | None = None
    seconds: float = 0.0
    exposed: bool = False           # the rater saw text that the whole reply's redaction changed


def without_last_words(text: str, words: int) -> str:
    """`text` less its last `words` words (and the spaces between and after them)."""
    found = list(WORD.finditer(text))
    return "" if len(found) <= words else text[:found[-words].start()] if words else text


def stream_chat(http: httpx.Client, endpoint: LiveEndpoint, messages: list[dict], generation: Generation,
                deadline: float) -> Iterator[str]:
    """The reply's pieces as the server streams them (OpenAI chat completions, `stream: true`)."""
    headers = {"Authorization": f"Bearer {endpoint.api_key}"} if endpoint.api_key else {}
    body = {"model": endpoint.model, "messages": messages, "stream": True,
            "max_tokens": generation.max_tokens, "temperature": generation.temperature}
    timeout = httpx.Timeout(max(0.1, deadline - time.monotonic()))
    url = endpoint.base_url.rstrip("/") + "/chat/completions"
    try:
        with http.stream("POST", url, json=body, headers=headers, timeout=timeout) as response:
            if response.status_code >= 400:
                raise ModelFailed(f"HTTP {response.status_code}: {response.read().decode('utf-8', 'replace')[:500]}")
            finished = False
            for line in response.iter_lines():
                if time.monotonic() > deadline:
                    raise ModelFailed(f"timeout: no complete reply within {generation.timeout_s:g} s")
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    finished = True
                    break
                choices = json.loads(data).get("choices") or [{}]
                piece = (choices[0].get("delta") or {}).get("content")
                finished = finished or choices[0].get("finish_reason") is not None
                if piece:
                    yield piece
            if not finished:
                raise ModelFailed("the stream ended before the reply was complete")
    except httpx.TimeoutException as e:
        raise ModelFailed(f"timeout: no complete reply within {generation.timeout_s:g} s ({type(e).__name__})") from e
    except httpx.HTTPError as e:
        raise ModelFailed(f"{type(e).__name__}: {e}") from e
    except (ValueError, AttributeError, IndexError) as e:
        raise ModelFailed(f"not an OpenAI chat completion stream: {e}") from e


class Side:
    """One model's reply in progress: it streams in a thread of its own, and is closed exactly once,
    by its thread (reply or error) or by the turn's deadline, whichever comes first."""

    def __init__(self, label: str, endpoint: LiveEndpoint, messages: list[dict], emit: Callable, redactor: Redactor):
        self.result = SideResult(label)
        self.endpoint, self.messages, self.emit, self.redactor = endpoint, messages, emit, redactor
        self.lock, self.closed, self.finished = threading.Lock(), False, threading.Event()
        self.sent, self.redacted_at, self.redacted_when = "", 0, 0.0
        self.taken_back: list[str] = []  # texts that were on screen before a `replace`
        # names the rater (the client) used: a reply that reflects them keeps them (Redactor.blind)
        self.said = frozenset().union(*(redactor.names_in(m["content"]) for m in messages if m.get("role") == "user"))

    def run(self, http: httpx.Client, generation: Generation, started: float, deadline: float) -> None:
        try:
            for piece in stream_chat(http, self.endpoint, self.messages, generation, deadline):
                with self.lock:
                    if self.closed:
                        return
                    if self.result.first_token_s is None:
                        self.result.first_token_s = time.monotonic() - started
                    self.result.raw += piece
                    if self.due():
                        self.show_so_far()
            raw = self.result.raw.strip()
            if not raw:
                raise ModelFailed("empty reply")
            self.close(started, raw=raw)
        except ModelFailed as e:
            self.close(started, error=str(e))
        except Exception as e:  # noqa: BLE001 - a bug on one side must not take the other side down
            self.close(started, error=f"{type(e).__name__}: {e}")
        finally:
            self.finished.set()

    def due(self) -> bool:
        """Time to redact the reply so far again: past the held-back length, enough new text, not too soon."""
        size = len(self.result.raw)  # a reply has at least as many characters as words
        return (size > HOLD_BACK and size - self.redacted_at >= EMIT_EVERY
                and time.monotonic() - self.redacted_when >= EMIT_GAP_S)

    def show_so_far(self) -> None:
        """Send what may be shown of the reply so far: its redaction less the last HOLD_BACK words."""
        self.redacted_at, self.redacted_when = len(self.result.raw), time.monotonic()
        stable = without_last_words(self.redactor.partial(self.result.raw, self.said), HOLD_BACK)
        if stable == self.sent:
            return
        if stable.startswith(self.sent):
            self.emit("delta", {"side": self.result.label, "text": stable[len(self.sent):]})
        else:  # shown at once; whether the rater saw something the reply does not say is known at its end
            self.taken_back.append(self.sent)
            self.emit("replace", {"side": self.result.label, "text": stable})
        self.sent = stable

    def close(self, started: float, raw: str | None = None, error: str | None = None) -> bool:
        """Settle the outcome once; the first caller wins (a late reply after the deadline is dropped)."""
        with self.lock:
            if self.closed:
                return False
            self.closed = True
            self.result.seconds = time.monotonic() - started
            if error is None:
                self.result.raw, self.result.shown = raw, self.redactor(raw, self.said)
                # a text taken back only because a deletion shortened the tail ("，由…的…我…" dropped
                # whole) is still the start of the reply: nothing was shown that the rater may not see
                self.result.exposed = any(not self.result.shown.startswith(seen.strip())
                                          for seen in [*self.taken_back, self.sent])
                self.emit("reply", {"side": self.result.label, "text": self.result.shown})
            else:
                self.result.error = error
                self.emit("failed", {"side": self.result.label, "message": FAILED_MESSAGE})
            return True


def ask_both(http: httpx.Client, asks: list[tuple[str, LiveEndpoint, list[dict]]], generation: Generation,
             redactor: Redactor, emit: Callable[[str, dict], None]) -> list[SideResult]:
    """Ask every (label, endpoint, messages) at once, streaming events through `emit` (which must
    be thread-safe); returns when each side has replied, failed, or run past `timeout_s`."""
    started = time.monotonic()
    deadline = started + generation.timeout_s
    sides = [Side(label, endpoint, messages, emit, redactor) for label, endpoint, messages in asks]
    for side in sides:
        threading.Thread(target=side.run, args=(http, generation, started, deadline), daemon=True,
                         name=f"live-{side.result.label}").start()
    for side in sides:
        side.finished.wait(max(0.0, deadline - time.monotonic()) + 0.5)
        side.close(started, error=f"timeout: no complete reply within {generation.timeout_s:g} s")
    return [side.result for side in sides]


def model_messages(system_prompt: str, history: list[tuple[str, str | None]], message: str) -> list[dict]:
    """What one model is sent: the system prompt, the earlier turns as it saw them (the client's
    words and its own raw replies; a turn it failed is joined to the next client message, so the
    roles still alternate), and the new message. `history`: (client text, its reply or None)."""
    messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
    pending: list[str] = []
    for client_text, reply in history:
        pending.append(client_text)
        if reply is not None:
            messages += [{"role": "user", "content": "\n".join(pending)}, {"role": "assistant", "content": reply}]
            pending = []
    messages.append({"role": "user", "content": "\n".join([*pending, message])})
    return messages
