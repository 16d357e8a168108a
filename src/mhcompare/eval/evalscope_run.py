"""Run EvalScope's native evaluator against a served OpenAI-compatible endpoint, local data only."""
import contextlib
import shutil
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
    with private_datasets_cache(Path(work_dir) / ".hf_datasets_cache"):
        run_task(config)


@contextlib.contextmanager
def private_datasets_cache(folder: Path):
    """EvalScope reads a local benchmark folder with `datasets.load_dataset`, whose shared cache
    (~/.cache/huggingface/datasets) keys a folder configured by its README.md (MMLU's layout) by
    that README alone, not by the folder's path or files: another folder with the same README, or
    the same folder refetched, would be served the old cached rows. Each run reads its data afresh."""
    import datasets.config

    before = datasets.config.HF_DATASETS_CACHE
    datasets.config.HF_DATASETS_CACHE = Path(folder)
    try:
        yield
    finally:
        datasets.config.HF_DATASETS_CACHE = before
        shutil.rmtree(folder, ignore_errors=True)
