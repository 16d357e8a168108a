"""Run EvalScope's native evaluator against a served OpenAI-compatible endpoint, local data only."""
from pathlib import Path


def run_evalscope(endpoint, dataset_args: dict, work_dir: Path, generation: dict, batch_size: int,
                  limit: int | None = None) -> None:
    """dataset_args: {evalscope dataset name: {"local_path": ..., "subset_list": [...]}}."""
    from evalscope import TaskConfig, run_task

    config = TaskConfig(
        model=endpoint.model, api_url=endpoint.base_url, api_key="EMPTY", eval_type="openai_api",
        datasets=sorted(dataset_args), dataset_args=dataset_args, work_dir=str(work_dir), no_timestamp=True,
        generation_config={"max_tokens": int(generation["max_tokens"]),
                           "temperature": float(generation["temperature"])},
        eval_batch_size=int(batch_size), limit=limit, seed=0)
    run_task(config)
