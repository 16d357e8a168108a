"""Item assignment: every rater's sequence is balanced across models, raters overlap so agreement
can be measured, orders differ between raters, and nobody gets an item twice."""
import random
from collections import Counter

from mhcompare.judge.store.assign import Candidate, choose_item

MODELS = ["a", "b", "c", "d"]
ITEMS = {i: MODELS[i % 4] for i in range(40)}  # 10 conversations per model


def simulate(raters: int, per_rater: int, raters_per_item: int, seed: int = 0) -> list[list[int]]:
    rng = random.Random(seed)
    coverage, sequences = Counter(), []
    for _ in range(raters):
        mine = []
        for _ in range(per_rater):
            candidates = [Candidate(i, key, coverage[i]) for i, key in ITEMS.items() if i not in mine]
            chosen = choose_item(candidates, Counter(ITEMS[i] for i in mine), raters_per_item, rng)
            mine.append(chosen.item_id)
            coverage[chosen.item_id] += 1
        sequences.append(mine)
    return sequences


def test_each_rater_sees_every_model_equally_often_in_every_stretch():
    for sequence in simulate(raters=5, per_rater=12, raters_per_item=3):
        assert len(sequence) == len(set(sequence))
        for start in range(0, 12, 4):  # each block of 4 holds each model once
            assert sorted(ITEMS[i] for i in sequence[start:start + 4]) == MODELS


def test_raters_overlap_up_to_the_target_then_move_on():
    sequences = simulate(raters=6, per_rater=12, raters_per_item=3)
    coverage = Counter(i for s in sequences for i in s)
    assert set(sequences[0]) == set(sequences[1]) == set(sequences[2])  # the first three share items
    assert not set(sequences[3]) & set(sequences[0])  # the fourth starts fresh ones
    assert max(coverage.values()) == 3


def test_orders_are_randomised_between_raters():
    first, second = simulate(raters=2, per_rater=12, raters_per_item=3, seed=1)
    assert set(first) == set(second) and first != second


def test_nothing_left_gives_none():
    assert choose_item([], Counter(), 3, random.Random(0)) is None
