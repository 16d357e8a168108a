"""The command line that starts each serving backend.

- lmdeploy: `lmdeploy serve api_server` directly (ms-swift 4.6's own lmdeploy backend imports
  modules LMDeploy 0.18 no longer has). A LoRA adapter needs the PyTorch engine; TurboMind
  serves merged weights only. `--logprobs-mode raw_logprobs`: LMDeploy 0.18 answers 400 to any
  request for logprobs unless the server was started with a logprobs mode
  (serve/openai/chat_completions/validation.py), and the adapter check asks for them.
  `--cache-max-entry-count`: the share of the GPU memory left after the weights that its KV cache
  takes (LMDeploy's default 0.8), where eval.serving / eval.guard set one.
- transformers: `swift deploy --infer_backend transformers` (`pt` in ms-swift 3.x), for CPUs and
  for models LMDeploy does not serve (0.18 removed Baichuan2). It formats prompts with ms-swift's
  template, the one training used.
"""
import sys

from mhcompare.tokens import SWIFT_PLUGIN
from mhcompare.train.recipe import as_cli, for_swift_version

BACKENDS = ("lmdeploy", "transformers")
GPU_BACKENDS = ("lmdeploy",)


def serving_plan(cfg, gpus: int) -> tuple[str, str, str | None]:
    """(backend, runtime, note): the configured backend, or the transformers backend in the model's
    training runtime where a GPU engine cannot run (no GPU), said in the note."""
    backend = cfg.eval.serving.backend or cfg.model.serving.backend
    if backend in GPU_BACKENDS and gpus == 0:
        return "transformers", str(cfg.model.runtime), (f"no GPU: {cfg.model.name} is served by swift deploy "
                                                        f"(transformers) instead of {backend}")
    if backend == "transformers":
        return backend, str(cfg.model.runtime), None
    return backend, str(cfg.model.serving.get("runtime") or cfg.model.runtime), None


def serve_command(backend: str, *, model: str, adapter: str | None, served_name: str, port: int,
                  model_type: str, template: str, trust_remote_code: bool, engine: str | None = None,
                  max_new_tokens: int = 512, python: str = sys.executable, extra_args=(),
                  swift_version: str = "4", system: str | None = None, adapter_by_name: bool = True,
                  cache_max_entry_count: float | None = None) -> list[str]:
    """The adapter is served as `served_name`, the base model as `base_name(served_name)`: LMDeploy
    applies an adapter only when the requested name differs from the base's (its chat completions
    handler), and the adapter check asks for both. adapter_by_name=False (swift deploy only): the
    adapter is applied to every request, under `served_name`, with no base beside it."""
    base = base_name(served_name)
    if backend == "lmdeploy":
        if adapter and engine == "turbomind":
            raise ValueError("LMDeploy's TurboMind engine cannot serve an unmerged LoRA adapter; "
                             "use model.serving.engine=pytorch or merge the adapter first")
        cmd = [python, "-m", "lmdeploy", "serve", "api_server", model, "--server-name", "127.0.0.1",
               "--server-port", str(port), "--model-name", base, "--backend", engine or "pytorch",
               "--logprobs-mode", "raw_logprobs"]
        if cache_max_entry_count is not None:
            cmd += ["--cache-max-entry-count", str(cache_max_entry_count)]
        if adapter:
            cmd += ["--adapters", f"{served_name}={adapter}"]
        if trust_remote_code:
            cmd += ["--trust-remote-code"]
    elif backend == "transformers":
        args = {"model": model, "model_type": model_type, "template": template, "infer_backend": "transformers",
                "host": "127.0.0.1", "port": port,
                "served_model_name": base if adapter_by_name or not adapter else served_name, "verbose": False,
                "max_new_tokens": max_new_tokens, "external_plugins": [str(SWIFT_PLUGIN)], "system": system,
                "adapters": (f"{served_name}={adapter}" if adapter_by_name else adapter) if adapter else None}
        # named as the runtime's ms-swift expects them (3.x: `pt`, `custom_register_path`, `glm4`)
        cmd = [python, "-m", "swift.cli.deploy", *as_cli(for_swift_version(args, swift_version))]
    else:
        raise ValueError(f"unknown serving backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    return cmd + [str(a) for a in extra_args]


def base_name(served_name: str) -> str:
    return f"{served_name}-base"
