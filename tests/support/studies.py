"""Simulated studies with the dependence a real one has, for the calibration tests
(tests/test_calibration.py): answers that repeat across seeds under greedy decoding, training-seed
shifts common to every item of a run, raters of different leniency, votes clustered by
conversation. Every generator is vectorised over `studies` replications."""
import numpy as np


def item_study(rng, studies=300, models=2, seeds=3, items=255, effects=None, stable=0.9, seed_sd=0.15,
               item_sd=1.5, interaction_sd=1.0):
    """outcomes[study, model, seed, item] in {0, 1}.

    An item's logit: its difficulty (shared by every model, SD item_sd) + the model's own take on
    it (SD interaction_sd) + the model's effect (`effects`, logits; 0 for all under the null) + the
    shift of that model's fine-tune on that seed (SD seed_sd, common to all its items). The answer's
    logistic noise is drawn once per model and item with probability `stable` (the same answer on
    every seed, as greedy decoding gives), else afresh on each seed."""
    effects = np.zeros(models) if effects is None else np.asarray(effects, dtype=float)
    difficulty = rng.normal(0, item_sd, (studies, 1, 1, items))
    interaction = rng.normal(0, interaction_sd, (studies, models, 1, items))
    shift = rng.normal(0, seed_sd, (studies, models, seeds, 1))
    fixed = rng.logistic(size=(studies, models, 1, items))
    fresh = rng.logistic(size=(studies, models, seeds, items))
    is_stable = rng.random((studies, models, 1, items)) < stable
    noise = np.where(is_stable, fixed, fresh)
    logit = difficulty + interaction + effects[None, :, None, None] + shift
    return (logit + noise > 0).astype(np.int8)


def seed_study(rng, studies=300, models=3, seeds=3, effects=None, seed_sd=0.10, run_sd=0.05, level=1.0):
    """values[study, model, seed]: a positive quantity (latency in seconds) on the log scale: the
    model's effect + a shift of seed k common to every model (the data order it fixes: what pairs
    seed k of two models) + the run's own noise."""
    effects = np.zeros(models) if effects is None else np.asarray(effects, dtype=float)
    log_value = (np.log(level) + effects[None, :, None] + rng.normal(0, seed_sd, (studies, 1, seeds))
                 + rng.normal(0, run_sd, (studies, models, seeds)))
    return np.exp(log_value)


def rating_study(rng, models=("a", "b"), means=None, conversations=40, raters=10, per_conversation=3,
                 leniency_sd=0.5, conversation_sd=0.5, noise_sd=0.7, rounded=True):
    """One study's ratings (a DataFrame as the rating export has it, one dimension): each
    conversation rated by `per_conversation` of the raters, every rater rating every model about
    equally; raters differ in leniency."""
    import pandas as pd

    means = means or dict.fromkeys(models, 3.0)
    leniency = rng.normal(0, leniency_sd, raters)
    frames = []
    for model in models:
        quality = means[model] + rng.normal(0, conversation_sd, conversations)
        who = np.argsort(rng.random((conversations, raters)), axis=1)[:, :per_conversation]
        score = quality[:, None] + leniency[who] + rng.normal(0, noise_sd, who.shape)
        if rounded:
            score = np.clip(np.rint(score), 1, 5)
        frames.append(pd.DataFrame({"model": model, "dimension": "empathy", "score": score.ravel(),
                                    "rater_id": who.ravel(),
                                    "conversation_id": np.repeat([f"{model}{c}" for c in range(conversations)],
                                                                 per_conversation)}))
    return pd.concat(frames, ignore_index=True)


def vote_study(rng, clusters, per_cluster=5, spread=1.0, advantage=0.0):
    """Model a against b: `clusters` conversation pairs, each judged `per_cluster` times; the pair's
    own log-odds effect (SD spread) is shared by its votes, so votes cluster by conversation."""
    import pandas as pd

    p_a = 1 / (1 + np.exp(-(advantage + rng.normal(0, spread, clusters))))
    a_wins = rng.random((clusters, per_cluster)) < p_a[:, None]
    return pd.DataFrame({"model_a": "a", "model_b": "b", "winner": np.where(a_wins.ravel(), "a", "b"),
                         "scenario_id": np.repeat(np.arange(clusters), per_cluster), "seed": 0})
