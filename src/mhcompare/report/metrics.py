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
    # tokenizer-free: the same text, whatever each model's tokenizer makes of it
    (r"train\.text_bytes_per_s", "training", HIGHER, "bytes/s", "training throughput in text (UTF-8 bytes/s)"),
    (r"train\.samples_per_s", "training", HIGHER, "samples/s", "training samples per second"),
    # model FLOPs utilisation against the peak of the device found (train/throughput.py)
    (r"train\.mfu", "training", HIGHER, "fraction", "model FLOPs utilisation (PaLM's definition, LoRA: 4N + 12LdT)"),
    (r"train\.gpu_hours", "training", LOWER, "GPU-h", "GPU-hours"),
    (r"train\.cpu_hours", "training", LOWER, "CPU-h", "CPU-hours (runs without a GPU)"),
    (r"train\.runtime_s", "training", LOWER, "s", "training wall time"),
    (r"train\.peak_memory_gib", "training", LOWER, "GiB", "peak memory"),
    # per token of each model's own tokenizer: shown, never ranked across models (a loss per token
    # of a tokenizer that cuts text finer is not a better fit, nor are more of its tokens faster work)
    (r"train\.tokens_per_s", "training", NEITHER, "tokens/s",
     "training throughput in its own tokens (real tokens, no padding; training steps only)"),
    (r"train\.tokens_per_s_with_padding", "training", NEITHER, "tokens/s",
     "training throughput counting padded positions (grows with the per-device batch)"),
    (r"train\.step_time_s", "training", NEITHER, "s", "time in training steps (last segment, no eval or saves)"),
    (r"train\.flops_per_token", "training", NEITHER, "FLOP/token", "training FLOPs per token (for MFU)"),
    (r"train\.peak_flops", "training", NEITHER, "FLOP/s", "peak dense BF16 FLOP/s of the device found"),
    (r"train\.time_to_target_s", "training", NEITHER, "s", "time to the target loss (per-token loss)"),
    (r"train\.reached_target", "training", NEITHER, "share of runs", "runs that reached the target loss"),
    (r"train\.final_loss", "training", NEITHER, "loss", "final training loss (per token)"),
    (r"train\.train_loss", "training", NEITHER, "loss", "mean training loss (per token)"),
    (r"train\.eval_loss", "training", NEITHER, "loss", "final eval loss (per token)"),
    (r"train\.trainable_params", "training", NEITHER, "params", "trainable (LoRA) parameters"),
    (r"train\.tokens_seen", "training", NEITHER, "tokens", "tokens seen (real, no padding)"),
    (r"train\.tokens_seen_with_padding", "training", NEITHER, "tokens", "tokens seen counting padded positions"),
    # the same effective batch is a different token budget per step for each tokenizer: shown beside it
    (r"train\.steps", "training", NEITHER, "steps", "optimizer steps"),
    (r"train\.segments", "training", NEITHER, "segments", "training segments (1 + resumes)"),
    (r"train\.tokens_per_step", "training", NEITHER, "tokens/step", "tokens per optimizer step"),
    (r"train\.text_bytes_per_token", "training", NEITHER, "bytes/token", "training text bytes per token"),
    (r"eval\.perf\.c(?P<k>\d+)\.latency_s", "inference", LOWER, "s", "latency at concurrency {k}"),
    (r"eval\.perf\.c(?P<k>\d+)\.ttft_s", "inference", LOWER, "s", "time to first token at concurrency {k}"),
    (r"eval\.perf\.c(?P<k>\d+)\.output_tokens_per_s", "inference", NEITHER, "tokens/s",
     "output throughput at concurrency {k} (its own tokens)"),
    (r"eval\.perf\.c(?P<k>\d+)\.requests_per_s", "inference", HIGHER, "req/s",
     "requests per second at concurrency {k}"),
    (r"eval\.perf\.c(?P<k>\d+)\.failed_requests", "inference", NEITHER, "requests",
     "failed requests at concurrency {k}"),
    (r"eval\.psych_mcq\.accuracy", "evaluation", HIGHER, "fraction", "psychology MCQ accuracy"),
    (r"eval\.crisis\.pass_rate", "evaluation", HIGHER, "fraction",
     "crisis replies judged safe (guard and LLM judge)"),
    (r"eval\.crisis\.guard_pass_rate", "evaluation", HIGHER, "fraction", "crisis replies the guard model calls safe"),
    (r"eval\.crisis\.judge_pass_rate", "evaluation", HIGHER, "fraction", "crisis replies the LLM judge calls safe"),
    (r"eval\.crisis\.rule_pass_rate", "evaluation", HIGHER, "fraction",
     "crisis replies passing the rule screen (a screen: see its recall and false alarms)"),
    (r"eval\.crisis\.harmful_rate", "evaluation", LOWER, "fraction", "crisis replies the rule screen flags harmful"),
    (r"eval\.crisis\.screen\.recall", "evaluation", NEITHER, "fraction",
     "rule screen: unsafe held-out replies it catches (its recall)"),
    (r"eval\.crisis\.screen\.false_alarm_rate", "evaluation", NEITHER, "fraction",
     "rule screen: safe held-out replies it fails (false alarms)"),
    (r"eval\.safety\.(?P<tool>rules)\.(?P<what>(harm|refers|engages)_(recall|false_alarm)\w*)", "evaluation", NEITHER,
     "", "{tool}' {what} on the blind crisis-style replies (the instrument's validity, the same for every model)"),
    (r"eval\.crisis\.referral\.rules\.refers_rate", "evaluation", HIGHER, "fraction",
     "crisis replies naming concrete help (rules; see their recall and false alarms)"),
    (r"eval\.crisis\.referral\.rules\.engages_rate", "evaluation", HIGHER, "fraction",
     "crisis replies engaging with the risk (rules; see their recall and false alarms)"),
    (r"eval\.crisis\.harm\.screen_rate", "evaluation", LOWER, "fraction",
     "crisis replies the rules' harm screen flags (a screen: see its recall)"),
    (r"eval\.crisis\.harm\.(?P<tool>guard|judge)\.(?P<what>\w+_rate\w*)", "evaluation", LOWER, "fraction",
     "crisis replies harmful by the {tool} ({what})"),
    (r"eval\.(?P<task>\w+(\.\w+)?)\.truncated", "evaluation", NEITHER, "answers",
     "{task}: answers cut by max_tokens (scored as EvalScope scored them)"),
    (r"eval\.crisis\.(?P<what>agreement|kappa)\.(?P<a>\w+)_(?P<b>\w+)", "evaluation", NEITHER, "",
     "crisis safety: {what} of {a} and {b}"),
    (r"eval\.dialogue\.rouge_l", "evaluation", HIGHER, "F1", "dialogue ROUGE-L"),
    (r"eval\.dialogue\.bleu4", "evaluation", HIGHER, "score", "dialogue BLEU-4 (cumulative, smoothed, by character)"),
    (r"eval\.(?P<task>\w+)\.(?P<metric>rouge_l|bleu4)_failures", "evaluation", NEITHER, "items",
     "{task}: items {metric} could not score"),
    (r"eval\.dialogue\.judge\.(?P<what>n|failures)", "evaluation", NEITHER, "items", "dialogue judge: {what}"),
    (r"eval\.dialogue\.judge\.(?P<dim>\w+)", "evaluation", HIGHER, "1-5", "dialogue judge: {dim}"),
    # recognised benchmarks (eval.benchmarks; src/mhcompare/eval/benchmarks.py), each on its own
    (r"eval\.cmmlu\.(?P<subset>\w+)\.accuracy", "evaluation", HIGHER, "fraction", "CMMLU {subset} accuracy"),
    (r"eval\.mmlu\.(?P<subset>\w+)\.accuracy", "evaluation", HIGHER, "fraction", "MMLU {subset} accuracy"),
    (r"eval\.safety_bench\.mental_health\.accuracy", "evaluation", HIGHER, "fraction",
     "SafetyBench Mental Health category accuracy"),
    (r"eval\.safety_bench\.(?P<subset>\w+)\.accuracy", "evaluation", HIGHER, "fraction",
     "SafetyBench {subset} accuracy (all seven categories)"),
    (r"eval\.eq_bench\.score", "evaluation", HIGHER, "score/100",
     "EQ-Bench v2 as EvalScope scores it (parseable answers only, no re-sampling; see its parse rate)"),
    (r"eval\.(?P<task>\w+)\.accuracy", "evaluation", HIGHER, "fraction", "{task} accuracy"),
    (r"eval\.(?P<task>\w+)\.(?P<subset>\w+)\.accuracy", "evaluation", HIGHER, "fraction", "{task} {subset} accuracy"),
    (r"eval\.(?P<task>[\w.]+)\.(?P<what>n|failures)", "evaluation", NEITHER, "items", "{task}: {what}"),
    (r"(eval|judge)\.adapter_check\.(?P<what>\w+)", "evaluation", NEITHER, "", "served adapter check: {what}"),
    (r"judge\.llm\.(?P<dim>\w+)\.mean", "judge", HIGHER, "1-5", "LLM judge: {dim}"),
    (r"judge\.llm\.(?P<what>scored|failures)", "judge", NEITHER, "conversations", "LLM judge: {what}"),
    (r"judge\.conversations", "judge", NEITHER, "conversations", "conversations generated"),
    (r"judge\.usage\.(?P<role>\w+)\.(?P<what>prompt_tokens|completion_tokens|requests)", "judge", NEITHER, "",
     "cost: {role} {what}"),
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


def derived(metrics: dict) -> dict:
    """Metrics computed from others of the same run: training throughput in text bytes per second
    (tokens/s x the training text's bytes per token of this model's tokenizer, which the train
    stage records from prepare's token count)."""
    values = [metrics.get(k) for k in ("train.tokens_per_s", "train.text_bytes_per_token")]
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in values):
        return {"train.text_bytes_per_s": values[0] * values[1]}
    return {}
