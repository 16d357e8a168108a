"""Which item a rater sees next: balanced across models, overlapping across raters, randomised.

Chosen one at a time when the rater asks (not planned up front), so conversations imported later
are picked up and a rater who stops early leaves no hole in anyone else's plan. In order:
  1. items that still need raters (fewer than `raters_per_item`) before items that have enough;
  2. the model (or model pair) this rater has seen least, so every rater's sequence is balanced;
  3. items other raters have already started, so ratings overlap and agreement can be measured;
  4. a random tie-break, so the order differs between raters.
Live chats (choose_live) are balanced the same way over model pairs and scenarios.
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


@dataclass(frozen=True)
class LiveCandidate:
    """A live chat that could be started: a model pair (sorted) on a scenario."""
    pair: tuple[str, str]
    scenario_id: str


def choose_live(candidates: list[LiveCandidate], mine: list[LiveCandidate], everyone: list[LiveCandidate],
                rng: random.Random) -> LiveCandidate | None:
    """The next live chat for a rater, given the chats they had (`mine`) and everyone's (`everyone`).

    Live chats are new conversations, so there is no overlap to seek: the same order as for items,
    balance first. In order: the model pair this rater has had least (every rater's sequence
    balanced), the pair had least by everyone (the study balanced), a scenario this rater has not
    played, the (pair, scenario) and then the scenario played least by everyone, a random tie-break.
    """
    if not candidates:
        return None
    my_pairs, my_scenarios = Counter(c.pair for c in mine), Counter(c.scenario_id for c in mine)
    pairs, cells = Counter(c.pair for c in everyone), Counter(everyone)
    scenarios = Counter(c.scenario_id for c in everyone)

    def priority(c: LiveCandidate):
        return (my_pairs[c.pair], pairs[c.pair], my_scenarios[c.scenario_id], cells[c], scenarios[c.scenario_id],
                rng.random())

    return min(candidates, key=priority)
