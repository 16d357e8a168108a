"""Is the fine-tuned adapter in effect? Checked on every serve, before the first scored request.

A server can accept requests for the adapter's name and still answer with the base model (LMDeploy
0.18 does exactly that when the adapter and the base share a name). So the check asks the server
for both: the adapter's name must be listed, and for a few fixed prompts under greedy decoding the
adapter's answers must differ from the base model's, in the text or in the log-probabilities of
the same tokens (a LoRA update always moves them; numerical noise of one server does not).

Where a server cannot serve the base and the adapter side by side (ChatGLM3 through ms-swift: PEFT's
per-request adapters assume batch-first tensors, ChatGLM's are sequence-first), the base model's
answers come from a short-lived server of the base alone (`reference`).
"""
import json
import urllib.error
import urllib.request

from mhcompare.errors import UserError

PROBES = ["我最近总是睡不着，心里很乱，怎么办？", "最近压力很大，和家人也总是吵架。",
          "I have felt low for weeks and cannot focus at work."]
MIN_LOGPROB_DIFFERENCE = 1e-4


class AdapterNotInEffect(UserError, RuntimeError):
    pass


def post_json(url: str, body: dict, timeout_s: float) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode("utf-8"),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        return json.loads(response.read())


def listed_models(base_url: str, timeout_s: float) -> list[str]:
    with urllib.request.urlopen(f"{base_url}/models", timeout=timeout_s) as response:
        return [m["id"] for m in json.loads(response.read()).get("data", [])]


def probe_request(model: str, prompt: str, max_tokens: int) -> dict:
    """A greedy probe with the log-probabilities of the chosen tokens (LMDeploy answers it only when
    started with --logprobs-mode, which serving/commands.py passes)."""
    return {"model": model, "messages": [{"role": "user", "content": prompt}], "temperature": 0,
            "max_tokens": max_tokens, "logprobs": True, "top_logprobs": 1, "seed": 0}


def greedy_answer(base_url: str, model: str, prompt: str, max_tokens: int, timeout_s: float) -> tuple[str, list]:
    body = probe_request(model, prompt, max_tokens)
    choice = post_json(f"{base_url}/chat/completions", body, timeout_s)["choices"][0]
    tokens = (choice.get("logprobs") or {}).get("content") or []
    return choice["message"]["content"] or "", [float(t["logprob"]) for t in tokens]


def probe_answers(base_url: str, model: str, max_tokens: int = 8, timeout_s: float = 120) -> list[tuple]:
    """Greedy answers (text, token log-probabilities) of `model` to the fixed probes."""
    try:
        return [greedy_answer(base_url, model, prompt, max_tokens, timeout_s) for prompt in PROBES]
    except urllib.error.HTTPError as error:
        detail = error.read().decode("utf-8", errors="replace")[:300]
        raise AdapterNotInEffect(f"the adapter probe of {model!r} failed (HTTP {error.code}: {detail})") from error
    except (urllib.error.URLError, KeyError, IndexError, ValueError) as error:
        raise AdapterNotInEffect(f"the adapter probe of {model!r} failed ({type(error).__name__}: {error})") from error


def check_adapter(base_url: str, adapter: str, base: str, reference: list[tuple] | None = None,
                  max_tokens: int = 8, timeout_s: float = 120) -> dict:
    """{'passed': True, ...} or AdapterNotInEffect with what was seen. `reference`: the base model's
    probe answers from another server, where this one serves the adapter alone."""
    listed = listed_models(base_url, timeout_s)
    wanted = [adapter] if reference is not None else [adapter, base]
    if any(name not in listed for name in wanted):
        raise AdapterNotInEffect(f"the server lists {listed}, not {' and '.join(repr(n) for n in wanted)}: "
                                 f"requests for {adapter!r} would not be answered by the fine-tuned model")
    tuned = probe_answers(base_url, adapter, max_tokens, timeout_s)
    based = reference if reference is not None else probe_answers(base_url, base, max_tokens, timeout_s)
    differing, largest = 0, 0.0
    for (tuned_text, tuned_lp), (base_text, base_lp) in zip(tuned, based):
        if tuned_text != base_text:
            differing += 1
        elif tuned_lp and len(tuned_lp) == len(base_lp):
            largest = max(largest, max(abs(a - b) for a, b in zip(tuned_lp, base_lp)))
    result = {"passed": differing > 0 or largest > MIN_LOGPROB_DIFFERENCE, "probes": len(PROBES),
              "answers_differ": differing, "max_logprob_difference": largest,
              "base_from": "same server" if reference is None else "a server of the base model alone"}
    if not result["passed"]:
        raise AdapterNotInEffect(f"{adapter!r} answered all {len(PROBES)} greedy probes exactly as the base model "
                                 f"{base!r} (largest log-probability difference {largest:.2e}): the server is not "
                                 f"applying the LoRA adapter, so eval and judge would score the base model")
    return result


def adapter_check_metrics(stage: str, checked: dict | None) -> dict:
    """`eval.adapter_check.passed: 1` etc. for metrics.json; nothing for an external server."""
    if checked is None:
        return {}
    return {f"{stage}.adapter_check.{k}": int(v) if isinstance(v, bool) else v for k, v in checked.items()}
