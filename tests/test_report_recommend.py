"""The generated recommendation: leaders, shared leads, draws and honest "nothing to say"."""
from mhcompare.report.recommend import recommendation
from mhcompare.report.stats import analyse

NOISE = [0.00, 0.01, -0.01, 0.02]


def planted(means: dict[str, float], jitter: float = 0.001) -> dict[str, dict[int, float]]:
    """{model: {seed: mean + a seed effect all models share + a little noise of their own}}."""
    return {model: {s: mean + NOISE[s] + jitter * ((i + s) % 3 - 1) for s in range(4)}
            for i, (model, mean) in enumerate(means.items())}


def advice(values: dict) -> list[str]:
    return recommendation(analyse(values, 0.95, 0.05))


def test_two_models_clearly_ahead_on_as_many_metrics_share_the_lead():
    bullets = advice({"eval.psych_mcq.accuracy": planted({"a": 0.8, "b": 0.6}),
                      "eval.crisis.pass_rate": planted({"a": 0.6, "b": 0.9})})
    assert bullets == ["**Evaluation scores**: **a** and **b** share the lead, each clearly ahead on 1 of 2 metrics "
                       "(a: psychology MCQ accuracy; b: crisis replies judged safe (guard and LLM judge)).", NO_OVERALL]


NO_OVERALL = ("**No overall ranking**: the axes are not weighed against each other here (speed must not outvote "
              "safety); each test controls errors within one metric, not across the report's metrics, so a single "
              "separation on one metric is weak evidence.")


def test_leaders_of_different_axes_give_a_trade_off_and_no_overall_winner():
    """Speed and knowledge led by different models: a trade-off, and no "overall" that counts
    axes equally (speed could outvote safety)."""
    bullets = advice({"eval.psych_mcq.accuracy": planted({"a": 0.8, "b": 0.6}),
                      "train.text_bytes_per_s": planted({"a": 1000.0, "b": 2000.0}, jitter=1.0)})
    assert bullets[0].startswith("**Training efficiency**: **b**, clearly ahead on 1 of 1 metrics")
    assert bullets[1].startswith("**Evaluation scores**: **a**, clearly ahead on 1 of 1 metrics")
    assert bullets[2] == ("**Trade-off**: b leads training efficiency, a leads evaluation scores. training "
                          "throughput in text (UTF-8 bytes/s) (bytes/s): b 2000 vs a 999.8 (-50%); psychology MCQ "
                          "accuracy (fraction): a 0.8048 vs b 0.6050 (-25%).")
    assert bullets[3] == NO_OVERALL and len(bullets) == 4


def test_tokenizer_dependent_metrics_do_not_count_towards_a_lead():
    bullets = advice({"train.tokens_per_s": planted({"a": 1000.0, "b": 2000.0}, jitter=1.0),
                      "train.eval_loss": planted({"a": 1.0, "b": 2.0})})
    assert bullets == ["No ranked metric has results for two models yet, so there is nothing to recommend."]


def test_with_one_seed_nothing_is_claimed():
    assert advice({"eval.psych_mcq.accuracy": {"a": {0: 0.9}, "b": {0: 0.5}}}) == [
        "**Evaluation scores**: no model is clearly ahead on any of its 1 ranked metrics (fewer than 2 shared "
        "seeds per pair of models, so no difference can be tested).", NO_OVERALL]
    assert advice({"eval.psych_mcq.accuracy": {"a": {0: 0.9, 1: 0.8}}}) == [
        "No ranked metric has results for two models yet, so there is nothing to recommend."]
