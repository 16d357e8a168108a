"""Which item a rater sees next: balanced across models, overlapping across raters, randomised.

Chosen one at a time when the rater asks (not planned up front), so conversations imported later
are picked up and a rater who stops early leaves no hole in anyone else's plan. In order:
  1. items that still need raters (fewer than `raters_per_item`) before items that have enough;
  2. the model (or model pair) this rater has seen least, so every rater's sequence is balanced;
  3. items other raters have already started, so ratings overlap and agreement can be measured;
  4. a random tie-break, so the order differs between raters.
"""
import random
from collections import Counter
from dataclasses import dataclass


@dataclass(frozen=True)
class Candidate:
    item_id: int
    balance_key: str
    coverage: int  # raters already assigned to this item


def choose_item(candidates: list[Candidate], seen_keys: Counter, raters_per_item: int,
                rng: random.Random) -> Candidate | None:
    """The next item for a rater, from the items they have not been given yet."""
    if not candidates:
        return None

    def priority(c: Candidate):
        return (c.coverage >= raters_per_item, seen_keys[c.balance_key], -c.coverage, rng.random())

    return min(candidates, key=priority)
