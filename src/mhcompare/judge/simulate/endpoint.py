"""A chat model behind an OpenAI-compatible URL: the served counsellor, the AI client, the LLM judge."""
import os
import threading
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property


@dataclass
class ChatEndpoint:
    base_url: str
    model: str
    api_key: str | None = None
    temperature: float = 0.7
    max_tokens: int = 512
    timeout_s: float = 120.0
    max_retries: int = 2
    # tokens this endpoint was asked and answered, as its server counted them (the cost record)
    usage: Counter = field(default_factory=Counter, compare=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, compare=False, repr=False)

    @classmethod
    def from_config(cls, node) -> "ChatEndpoint":
        """Settings from a conf/judge/ section; the key is read from the variable `api_key_env` names."""
        key_env = node.get("api_key_env")
        api_key = os.environ.get(key_env) if key_env else None
        if key_env and not api_key:
            raise RuntimeError(f"{node.model} at {node.base_url} needs an API key: export {key_env}=... "
                               "(keys are read from the environment, never from a file; set api_key_env "
                               "to null for a local server without one)")
        return cls(base_url=str(node.base_url), model=str(node.model), api_key=api_key,
                   temperature=float(node.temperature), max_tokens=int(node.max_tokens),
                   timeout_s=float(node.timeout_s), max_retries=int(node.max_retries))

    @cached_property
    def _client(self):
        from openai import OpenAI

        return OpenAI(base_url=self.base_url, api_key=self.api_key or "not-needed",
                      timeout=self.timeout_s, max_retries=self.max_retries)

    def chat(self, messages: list[dict], seed: int | None = None) -> str:
        extra = {"seed": seed} if seed is not None else {}
        response = self._client.chat.completions.create(model=self.model, messages=messages,
                                                        temperature=self.temperature,
                                                        max_tokens=self.max_tokens, **extra)
        if response.usage is not None:
            with self._lock:
                self.usage["prompt_tokens"] += int(response.usage.prompt_tokens or 0)
                self.usage["completion_tokens"] += int(response.usage.completion_tokens or 0)
                self.usage["requests"] += 1
        return (response.choices[0].message.content or "").strip()
