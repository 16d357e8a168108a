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
