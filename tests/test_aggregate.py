"""stage=aggregate on synthetic run folders with planted differences: the ranking, intervals and
"cannot be told apart" notes come out as planted; failures, gaps and corrupt files are reported."""
import hashlib
import math

import pandas as pd
import pytest
from omegaconf import OmegaConf
from scipy import stats as scipy_stats

from conftest import compose_config, run_py
from mhcompare.stages import aggregate
from support.synthetic_runs import SEEDS, accuracy, loss_curve, train_metrics, write_planted_sweep, write_run


def aggregate_report(outputs, experiment, *overrides):
    cfg = compose_config([f"experiment_name={experiment}", "stage=aggregate", *overrides], outputs=outputs)
    return aggregate.run(cfg), outputs / experiment / "report"


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    outputs = tmp_path_factory.mktemp("outputs")
    write_planted_sweep(outputs / "planted")
    # every eval loss curve passes 1.6 at step 100, except beta's, at step 50 of 100
    result, report = aggregate_report(outputs, "planted", "report.target_loss.value=1.6")
    return result, report, (report / "performance_comparison.md").read_text(encoding="utf-8")


def row(markdown: str, label: str) -> str:
    return next(line for line in markdown.splitlines() if line.startswith(f"| {label} ("))


def test_ranking_and_intervals_come_out_as_planted(planted):
    _, report, markdown = planted
    summary = pd.read_csv(report / "summary.csv")
    acc = summary[summary.metric == "eval.psych_mcq.accuracy"].set_index("model")
    values = [accuracy("alpha", s) for s in SEEDS]
    # a fraction's interval is the t interval of the logits, transformed back
    logits = [math.log(v / (1 - v)) for v in values]
    low, high = (1 / (1 + math.exp(-x)) for x in
                 scipy_stats.t.interval(0.95, 4, loc=sum(logits) / 5, scale=scipy_stats.sem(logits)))
    assert acc.loc["alpha", "mean"] == pytest.approx(sum(values) / 5)
    assert (acc.loc["alpha", "ci_low"], acc.loc["alpha", "ci_high"]) == pytest.approx((low, high))
    assert acc["scale"].unique().tolist() == ["logit"]
    assert acc["n"].tolist() == [5, 5, 5] and acc["rank"].to_dict() == {"alpha": 1, "beta": 2, "gamma": 3}
    assert acc["letters"].to_dict() == {"alpha": "a", "beta": "b", "gamma": "b"}
    assert row(markdown, "psychology MCQ accuracy").endswith("| alpha (a) · beta (b) · gamma (b) |")
    assert row(markdown, "training throughput in text").endswith("| gamma (a) · beta (b) · alpha (c) |")
    assert row(markdown, "training throughput in its own tokens").endswith("| not ranked |")
    assert row(markdown, "peak memory").endswith("| gamma (a) · alpha (b) · beta (b) |")
    assert row(markdown, "latency at concurrency 1").endswith("| beta (a) · gamma (b) · alpha (c) |")
    cell = f"{sum(values) / 5:.4f} [{low:.4f}, {high:.4f}] (n=5)"
    assert cell in row(markdown, "psychology MCQ accuracy")


def test_models_that_cannot_be_told_apart_are_noted_with_their_corrected_test(planted):
    _, report, markdown = planted
    comparisons = pd.read_csv(report / "comparisons.csv")
    acc = comparisons[comparisons.metric == "eval.psych_mcq.accuracy"].set_index(["model_a", "model_b"])
    raw = {pair: scipy_stats.ttest_rel([accuracy(pair[0], s) for s in SEEDS],
                                       [accuracy(pair[1], s) for s in SEEDS]).pvalue
           for pair in [("alpha", "beta"), ("alpha", "gamma"), ("beta", "gamma")]}
    # Holm by hand: the smallest p x 3, the next x 2 (kept monotone), the largest x 1
    (first, p1), (second, p2), (third, p3) = sorted(raw.items(), key=lambda item: item[1])
    holm = {first: 3 * p1, second: max(3 * p1, 2 * p2), third: min(1.0, max(3 * p1, 2 * p2, p3))}
    assert third == ("beta", "gamma")
    for pair in raw:
        assert acc.loc[pair, "p"] == pytest.approx(raw[pair]) and acc.loc[pair, "p_holm"] == pytest.approx(holm[pair])
    assert acc["separable"].to_dict() == {("alpha", "beta"): True, ("alpha", "gamma"): True,
                                          ("beta", "gamma"): False}
    p = acc.loc[("beta", "gamma"), "p_holm"]
    assert (f"- **psychology MCQ accuracy**: beta ≈ gamma (paired t across shared seeds, Holm p = {p:.3g}, 5 seeds)"
            in markdown)
    assert "- **peak memory**: alpha ≈ beta (paired t across shared seeds, Holm p =" in markdown
    assert "- **training throughput in text" not in markdown  # every pair separable: no note


def test_recommendation_is_generated_from_the_planted_numbers(planted):
    _, _, markdown = planted
    advice = markdown.split("## Recommendation", 1)[1].split("\n## ", 1)[0]
    assert "**Evaluation scores**: **alpha**, clearly ahead on 1 of 1 metrics (psychology MCQ accuracy)" in advice
    # output tokens/s counts each model's own tokens: not ranked, so 2 metrics, not 4
    assert "**Inference performance**: **beta**, clearly ahead on 2 of 2 metrics" in advice
    assert ("**Training efficiency**: **gamma**, clearly ahead on 3 of 6 metrics (training throughput in text (UTF-8 "
            "bytes/s), training samples per second, peak memory)") in advice
    assert "**Overall**" not in advice and "**No overall ranking**" in advice
    assert ("**Trade-off**: beta leads inference performance, alpha leads evaluation scores. latency at concurrency 1 "
            "(s): beta 0.5040 vs alpha 1.004 (+99%); psychology MCQ accuracy (fraction): alpha 0.8040 vs beta 0.7040 "
            "(-12%).") in advice


def test_time_to_target_is_read_off_the_curves(planted):
    _, report, markdown = planted
    runs = pd.read_csv(report / "runs.csv")
    seconds = runs.groupby("model")["train.time_to_target_s"].unique().to_dict()
    assert {m: list(v) for m, v in seconds.items()} == {"alpha": [3600.0], "beta": [1800.0], "gamma": [3600.0]}
    assert "eval_loss ≤ 1.6 (set in report.target_loss.value)" in markdown
    # a per-token loss target is a different target for each tokenizer: shown, not ranked
    assert row(markdown, "time to the target loss").endswith("| not ranked |")
    assert row(markdown, "runs that reached the target loss").startswith(
        "| runs that reached the target loss (share of runs) | 1.000")


def test_tables_come_as_csv_and_parquet_and_the_plots_as_png(planted):
    result, report, markdown = planted
    assert result["runs"] == 15 and result["models"] == 3 and result["failed"] == 0 and result["problems"] == []
    for name in ("runs", "summary", "comparisons", "models"):
        from_csv, from_parquet = pd.read_csv(report / f"{name}.csv"), pd.read_parquet(report / f"{name}.parquet")
        assert list(from_csv.columns) == list(from_parquet.columns) and len(from_csv) == len(from_parquet) > 0
    for png in ("loss_curves.png", "bars_training.png", "bars_evaluation.png", "latency_throughput.png"):
        data = (report / png).read_bytes()
        assert data.startswith(b"\x89PNG") and b"tEXt" not in data and b"tIME" not in data
        assert f"]({png})" in markdown
    assert not (report / "bars_judge.png").exists()
    models = pd.read_csv(report / "models.csv").set_index("model")
    assert models.loc["alpha", "huggingface"] == "org/alpha-7b-hf" and models.loc["alpha", "context_length"] == 32768
    assert models.loc["alpha", "runtime.train"] == ("default (torch 2.5.1+cu124, transformers 4.51.3, peft 0.14.0, "
                                                    "ms-swift 4.6.0)")
    assert "| alpha | Alpha-7B-Chat | 7.62 | Apache-2.0 | native | 32768 | org/alpha-7b | org/alpha-7b-hf |" in markdown


def test_the_provenance_of_every_number_is_stated(planted):
    _, report, markdown = planted
    provenance = markdown.split("## Provenance", 1)[1]
    assert "all runs share one recipe." in provenance and "learning_rate: 0.0002" in provenance
    assert "| code version (train) | `0123456789ab` | 15 |" in provenance
    assert "| data hash (train) | `d4a7a0a5d4a7a0a5` | 15 |" in provenance
    assert "| train | 15 | 0 | 0 | 0 |" in provenance and "| judge | 0 | 0 | 0 | 15 |" in provenance
    assert "Missing runs (no folder), against 3 models × seeds 0-4: none." in provenance
    runs = pd.read_csv(report / "runs.csv")
    assert runs["data_hash"].unique().tolist() == ["d4a7a0a5d4a7a0a5"] and runs["recipe"].nunique() == 1


def test_rerunning_gives_the_same_bytes(planted, tmp_path):
    _, report, _ = planted
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in report.iterdir()}
    aggregate_report(report.parents[1], "planted", "report.target_loss.value=1.6")
    after = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in report.iterdir()}
    assert before == after and len(before) == 14


def test_one_model_one_seed_gives_a_report_that_says_what_is_missing(tmp_path):
    write_run(tmp_path / "tiny", "alpha", 0, train=train_metrics(), curve=loss_curve(2.0, 1.2))
    result, report = aggregate_report(tmp_path, "tiny")
    markdown = (report / "performance_comparison.md").read_text(encoding="utf-8")
    assert result["runs"] == 1
    assert "No ranked metric has results for two models yet" in markdown
    assert "| training throughput in text (UTF-8 bytes/s) (bytes/s, higher is better) | 1500 (n=1) | alpha (a) |" \
        in markdown
    assert "## Evaluation scores\n\nNo results yet: no run has a finished eval stage." in markdown
    assert "No human judgement yet" in markdown
    assert (report / "loss_curves.png").exists() and not (report / "latency_throughput.png").exists()


def test_failed_unfinished_missing_and_corrupt_runs_are_reported_not_crashed_on(tmp_path):
    experiment = tmp_path / "half"
    evals = {"eval.psych_mcq.accuracy": 0.7, "eval.crisis.pass_rate": 0.9}
    for seed in (0, 1, 2):
        write_run(experiment, "alpha", seed, train=train_metrics(), eval=evals)
    write_run(experiment, "beta", 0, train=train_metrics(), eval=evals)
    write_run(experiment, "beta", 1, unfinished=("train",), failed={
        "stage": "train", "error": "torch.OutOfMemoryError: CUDA out of memory.\nTraceback ...",
        "log": "multirun/2026-01-01/00-00-00/beta_seed1/.submitit/42_log.err"})
    write_run(experiment, "beta", 2, train=train_metrics(), eval={"eval.psych_mcq.accuracy": 0.6})
    write_run(experiment, "beta", 3, train=train_metrics(), unfinished=("eval",))
    broken = write_run(experiment, "gamma", 0, train=train_metrics(), eval=evals)
    (broken / "train" / "metrics.json").write_text('{"train.tokens_per_s": 12', encoding="utf-8")

    result, report = aggregate_report(tmp_path, "half", "report.expected.seeds=[0,1,2,3]")
    markdown = (report / "performance_comparison.md").read_text(encoding="utf-8")
    assert result["failed"] == 1 and result["runs"] == 8
    assert ("| beta/seed1 | train | torch.OutOfMemoryError: CUDA out of memory. | "
            "`multirun/2026-01-01/00-00-00/beta_seed1/.submitit/42_log.err` |") in markdown
    assert "- beta/seed3: eval" in markdown  # unfinished stage
    assert "against 3 models × seeds 0-3: alpha/seed3, gamma/seed1, gamma/seed2, gamma/seed3" in markdown
    assert ("**crisis replies judged safe (guard and LLM judge)** has no value for beta seed 2 (the eval stage "
            "finished there)") in markdown
    assert "- gamma/seed0/train/metrics.json: line 1: not valid JSON" in markdown
    assert result["problems"] == [p for p in result["problems"] if "gamma/seed0/train/metrics.json" in p] != []
    runs = pd.read_csv(report / "runs.csv").set_index("run")
    assert runs.loc["beta/seed1", "status.train"] == "failed" and runs.loc["beta/seed3", "status.eval"] == "unfinished"
    assert pd.isna(runs.loc["gamma/seed0", "train.tokens_per_s"]) and runs.loc["gamma/seed0", "status.eval"] == "done"
    assert "| eval | 6 | 1 | 0 | 1 |" in markdown and "| train | 7 | 0 | 1 | 0 |" in markdown


def test_the_judge_stage_files_are_included_and_never_overwritten(tmp_path):
    for model in ("alpha", "beta"):
        write_run(tmp_path / "judged", model, 0, train=train_metrics(), judge={"judge.llm.empathy.mean": 3.5,
                                                                              "judge.conversations": 12})
    report = tmp_path / "judged" / "report"
    analysis = report / "human_judge_analysis.md"
    scores = report / "human_judge" / "model_scores.csv"
    scores.parent.mkdir(parents=True)
    analysis.write_text("# Human judgement\n\nKrippendorff's alpha = 0.61 over 3 raters.\n", encoding="utf-8")
    scores.write_text("model,dimension,mean,ci_low,ci_high,n_ratings\nalpha,empathy,4.1,3.8,4.4,36\n",
                      encoding="utf-8")
    plot = report / "human_judge" / "model_scores.png"
    plot.write_bytes(b"\x89PNG\r\n\x1a\nnot really a plot")
    before = (analysis.read_bytes(), scores.read_bytes(), plot.read_bytes())
    aggregate_report(tmp_path, "judged")
    assert (analysis.read_bytes(), scores.read_bytes(), plot.read_bytes()) == before
    markdown = (report / "performance_comparison.md").read_text(encoding="utf-8")
    assert "| alpha | empathy | 4.100 [3.800, 4.400] | 36 |" in markdown
    assert "[human_judge_analysis.md](human_judge_analysis.md)" in markdown
    assert "| LLM judge: empathy (1-5, higher is better) | 3.500 (n=1) | 3.500 (n=1) | alpha (a) · beta (a) |" \
        in markdown
    page = (report / "performance_comparison.html").read_text(encoding="utf-8")
    assert "Krippendorff&#x27;s alpha = 0.61 over 3 raters." in page
    assert 'data-file="human_judge/model_scores.png" src="data:image/png;base64,iVBORw0KGgpub3QgcmVhbGx5' in page


def test_no_run_folders_is_an_error_that_says_what_to_do(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no run folders .* train something first"):
        aggregate_report(tmp_path, "empty")


def test_the_expected_grid_comes_from_the_sweep_when_aggregating_after_one():
    after_sweep = OmegaConf.create({"hydra": {"sweeper": {"params": {"model": "qwen,llama", "seed": "0,1,2"}},
                                              "overrides": {"task": ["seed=0,1", "experiment=full"]}}})
    assert aggregate.sweep_values(after_sweep, "model") == ["qwen", "llama"]
    assert aggregate.sweep_values(after_sweep, "seed") == ["0", "1"]  # the command line wins
    ranged = OmegaConf.create({"hydra": {"sweeper": {"params": {"seed": "range(0,3)"}}, "overrides": {"task": []}}})
    assert aggregate.sweep_values(ranged, "seed") is None
    assert aggregate.sweep_values(OmegaConf.create({}), "model") is None


def test_run_py_stage_aggregate_builds_the_report(tmp_path):
    write_run(tmp_path / "cli", "alpha", 0, train=train_metrics())
    write_run(tmp_path / "cli", "beta", 0, train=train_metrics(tokens_per_s=2000.0))
    out = run_py("stage=aggregate", "experiment_name=cli", f"paths.outputs={tmp_path}", timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    report = tmp_path / "cli" / "report"
    assert ("| training throughput in text (UTF-8 bytes/s) (bytes/s, higher is better) | 1500 (n=1) | 3000 (n=1) | "
            "beta (a) · alpha (a) |") in (report / "performance_comparison.md").read_text(encoding="utf-8")
    assert sorted(p.name for p in report.iterdir()) == sorted(
        ["performance_comparison.md", "performance_comparison.html", "bars_training.png",
         *(f"{t}.{ext}" for t in ("runs", "summary", "comparisons", "models") for ext in ("csv", "parquet"))])


def test_fixed_item_sets_are_compared_item_by_item_from_the_eval_stage_files(tmp_path):
    """Greedy decoding gives the same answers on every seed: beta answers one more MCQ item than
    alpha, on all three seeds. Across seeds that is a constant difference (the paired t-test calls
    it, p = 0); read item by item from eval/items/psych_mcq.jsonl it is one item of 200, the same
    on every seed (t = 1, 199 df)."""
    import json

    for model, right in (("alpha", 100), ("beta", 101)):
        for seed in range(3):
            folder = write_run(tmp_path / "items", model, seed, train=train_metrics(),
                               eval={"eval.psych_mcq.accuracy": right / 200, "eval.psych_mcq.n": 200})
            rows = [{"id": f"q{i}", "correct": float(i < right), "reply": "A"} for i in range(200)]
            (folder / "eval" / "items").mkdir()
            (folder / "eval" / "items" / "psych_mcq.jsonl").write_text(
                "".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    _, report = aggregate_report(tmp_path, "items")
    comparisons = pd.read_csv(report / "comparisons.csv").set_index("metric")
    acc = comparisons.loc["eval.psych_mcq.accuracy"]
    assert acc["test"].startswith("paired t over items and seeds") and acc["pairs"] == 600
    assert (acc["items"], acc["seeds"], acc["dropped_a"], acc["dropped_b"]) == (200, 3, 0, 0)
    assert acc["p"] == pytest.approx(0.3185, abs=1e-4) and not acc["separable"]
    markdown = (report / "performance_comparison.md").read_text(encoding="utf-8")
    assert row(markdown, "psychology MCQ accuracy").endswith("| beta (a) · alpha (a) |")
