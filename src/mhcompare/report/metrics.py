"""The metric registry: what a flat metric name means to the report.

Stages write flat names (`train.tokens_per_s`, `eval.perf.c4.latency_s`); an entry here says which
axis of the comparison a name belongs to, whether higher or lower is better (or neither: a count,
shown but never ranked), its unit and its label. A new metric slots in with one line; a name with
no entry still reaches runs.csv and summary.csv, and the report lists it as unregistered.
"""
import functools
import re
from dataclasses import dataclass

HIGHER, LOWER, NEITHER = "higher", "lower", None

# axis key -> section title, in report order
AXES = {
    "training": "Training efficiency",
    "inference": "Inference performance",
    "evaluation": "Evaluation scores",
    "judge": "LLM judge of generated conversations",
}

# (full-match pattern, axis, better, unit, label); the first match wins, and this order is the
# order of the report's rows. Named groups fill the label.
REGISTRY = [
    (r"train\.tokens_per_s", "training", HIGHER, "tokens/s", "training throughput"),
    (r"train\.samples_per_s", "training", HIGHER, "samples/s", "training samples per second"),
    (r"train\.gpu_hours", "training", LOWER, "GPU-h", "GPU-hours"),
    (r"train\.cpu_hours", "training", LOWER, "CPU-h", "CPU-hours (runs without a GPU)"),
    (r"train\.runtime_s", "training", LOWER, "s", "training wall time"),
    (r"train\.time_to_target_s", "training", LOWER, "s", "time to the target loss"),
    (r"train\.peak_memory_gib", "training", LOWER, "GiB", "peak memory"),
    (r"train\.final_loss", "training", LOWER, "loss", "final training loss"),
    (r"train\.train_loss", "training", LOWER, "loss", "mean training loss"),
    (r"train\.eval_loss", "training", LOWER, "loss", "final eval loss"),
    (r"train\.trainable_params", "training", NEITHER, "params", "trainable (LoRA) parameters"),
    (r"train\.tokens_seen", "training", NEITHER, "tokens", "tokens seen"),
    # the same effective batch is a different token budget per step for each tokenizer: shown beside it
    (r"train\.steps", "training", NEITHER, "steps", "optimizer steps"),
    (r"train\.segments", "training", NEITHER, "segments", "training segments (1 + resumes)"),
    (r"train\.tokens_per_step", "training", NEITHER, "tokens/step", "tokens per optimizer step"),
    (r"eval\.perf\.c(?P<k>\d+)\.latency_s", "inference", LOWER, "s", "latency at concurrency {k}"),
    (r"eval\.perf\.c(?P<k>\d+)\.ttft_s", "inference", LOWER, "s", "time to first token at concurrency {k}"),
    (r"eval\.perf\.c(?P<k>\d+)\.output_tokens_per_s", "inference", HIGHER, "tokens/s",
     "output throughput at concurrency {k}"),
    (r"eval\.perf\.c(?P<k>\d+)\.requests_per_s", "inference", HIGHER, "req/s",
     "requests per second at concurrency {k}"),
    (r"eval\.perf\.c(?P<k>\d+)\.failed_requests", "inference", NEITHER, "requests",
     "failed requests at concurrency {k}"),
    (r"eval\.psych_mcq\.accuracy", "evaluation", HIGHER, "fraction", "psychology MCQ accuracy"),
    (r"eval\.crisis\.pass_rate", "evaluation", HIGHER, "fraction", "crisis prompts handled safely"),
    (r"eval\.crisis\.rule_pass_rate", "evaluation", HIGHER, "fraction", "crisis prompts passing the rules"),
    (r"eval\.crisis\.judge_pass_rate", "evaluation", HIGHER, "fraction", "crisis prompts judged safe"),
    (r"eval\.crisis\.harmful_rate", "evaluation", LOWER, "fraction", "crisis replies flagged harmful"),
    (r"eval\.dialogue\.rouge_l", "evaluation", HIGHER, "F1", "dialogue ROUGE-L"),
    (r"eval\.dialogue\.bleu4", "evaluation", HIGHER, "score", "dialogue BLEU-4"),
    (r"eval\.(?P<task>\w+)\.(?P<metric>rouge_l|bleu4)_failures", "evaluation", NEITHER, "items",
     "{task}: items {metric} could not score"),
    (r"eval\.dialogue\.judge\.(?P<what>n|failures)", "evaluation", NEITHER, "items", "dialogue judge: {what}"),
    (r"eval\.dialogue\.judge\.(?P<dim>\w+)", "evaluation", HIGHER, "1-5", "dialogue judge: {dim}"),
    (r"eval\.(?P<task>\w+)\.accuracy", "evaluation", HIGHER, "fraction", "{task} accuracy"),
    (r"eval\.(?P<task>[\w.]+)\.(?P<what>n|failures)", "evaluation", NEITHER, "items", "{task}: {what}"),
    (r"(eval|judge)\.adapter_check\.(?P<what>\w+)", "evaluation", NEITHER, "", "served adapter check: {what}"),
    (r"judge\.llm\.(?P<dim>\w+)\.mean", "judge", HIGHER, "1-5", "LLM judge: {dim}"),
    (r"judge\.llm\.(?P<what>scored|failures)", "judge", NEITHER, "conversations", "LLM judge: {what}"),
    (r"judge\.conversations", "judge", NEITHER, "conversations", "conversations generated"),
    (r"judge\.turns", "judge", NEITHER, "turns", "turns per conversation"),
    (r"judge\.counsellor_reply_chars\.mean", "judge", NEITHER, "characters", "mean counsellor reply length"),
]
_COMPILED = [(re.compile(p), axis, better, unit, label) for p, axis, better, unit, label in REGISTRY]


@dataclass(frozen=True)
class MetricInfo:
    name: str
    axis: str
    better: str | None  # "higher", "lower", or None: shown, never ranked
    unit: str
    label: str
    order: tuple  # sorts rows in registry order, then numerically (c1 before c16)

    @property
    def ranked(self) -> bool:
        return self.better is not None

    @property
    def heading(self) -> str:
        """`training throughput (tokens/s, higher is better)`."""
        better = f", {self.better} is better" if self.ranked else ""
        return f"{self.label} ({self.unit}{better})"


def natural_key(name: str) -> tuple:
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name))


@functools.lru_cache(maxsize=None)
def lookup(name: str) -> MetricInfo | None:
    """The registry entry for a metric name, or None when the report does not know it."""
    for index, (pattern, axis, better, unit, label) in enumerate(_COMPILED):
        match = pattern.fullmatch(name)
        if match:
            return MetricInfo(name, axis, better, unit, label.format(**match.groupdict()),
                              (list(AXES).index(axis), index, natural_key(name)))
    return None
