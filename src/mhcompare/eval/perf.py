"""Inference performance with `evalscope perf`: latency, time to first token and throughput at
a few concurrency levels, streamed requests against the served model."""
from pathlib import Path

from mhcompare.io import atomic_write_text


def run_perf(endpoint, prompts: list[str], concurrency, requests_per_level: int, max_tokens: int,
             out_dir: Path) -> dict:
    """{f"c{k}.latency_s" ...} for each concurrency level k."""
    from evalscope.perf.arguments import Arguments
    from evalscope.perf.main import run_perf_benchmark

    prompt_file = Path(out_dir) / "prompts.txt"
    atomic_write_text(prompt_file, "".join(p.replace("\n", " ") + "\n" for p in prompts))
    levels = [int(c) for c in concurrency]
    args = Arguments(model=endpoint.model, url=f"{endpoint.base_url}/chat/completions", api="openai",
                     parallel=levels, number=[int(requests_per_level)] * len(levels), dataset="line_by_line",
                     dataset_path=str(prompt_file), max_tokens=int(max_tokens), stream=True,
                     outputs_dir=str(out_dir), no_timestamp=True, temperature=0.0)
    results = run_perf_benchmark(args)
    metrics = {}
    for level in levels:
        summary = results[f"parallel_{level}_number_{int(requests_per_level)}"]["metrics"]
        metrics.update({
            f"c{level}.latency_s": float(summary.avg_latency),
            f"c{level}.ttft_s": float(summary.avg_ttft) / 1000.0 if summary.avg_ttft is not None else None,
            f"c{level}.output_tokens_per_s": float(summary.output_token_throughput),
            f"c{level}.requests_per_s": float(summary.request_throughput),
            f"c{level}.failed_requests": int(summary.failed_requests),
        })
    return metrics
