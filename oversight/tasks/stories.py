"""Short generated stories in which a plan has two branches and one passage sentence says which branch held.

Every story holds two conditional plans for the same object — "if it rained, the violin would go to the
greenhouse", "if it stayed dry, it would go to the boathouse" — drawn from one template pool, and one *fact*
sentence that settles the condition ("It rained that afternoon."), among filler sentences. Neither plan alone
says where the object went, and the fact alone names no place: only the two together settle the question.

Stories come in *minimal pairs*: twins (``story-0000`` / ``story-0001``) share the question, the choices in the
same order and every passage sentence except the fact, which asserts the other branch, so the answer flips.
What this guarantees, by construction rather than by measurement:

* a judge who sees only the question and choices, or only one answer's supporting plan, sees the same thing in
  both twins and so gets exactly one of each pair right;
* the correct answer is choice A in exactly half the items, and which branch leads to choice A is balanced
  within every condition family, so the fact's wording alone says nothing about the position;
* the sentence supporting the right answer and the one supporting the wrong answer come from the same pool,
  and every sentence's position is shared by the twins, so wording, length or order cannot pick the truth.

``meta`` holds ``pair`` (the twin group), ``family`` (which kind of condition), ``branch`` (which of its two
branches holds) and ``sentences`` (the story's length).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from oversight.tasks.items import TaskItem, TaskSet

SIZE = 240
F = TypeVar("F")


@dataclass(frozen=True)
class Family:
    """One kind of condition a plan can hang on, with the phrasings of its two branches."""

    name: str
    #: each entry is one phrasing of the condition's two branches, as past-tense clauses
    branches: tuple[tuple[str, str], ...]


_FAMILIES = (
    Family("weather", (("it rained", "it stayed dry"), ("the storm came", "the sky stayed clear"))),
    Family("ferry", (
        ("the ferry sailed", "the ferry was cancelled"), ("the boat crossed", "the crossing was called off"),
    )),
    Family("shop", (
        ("the hardware shop was open", "the hardware shop was closed"),
        ("the market opened", "the market stayed shut"),
    )),
    Family("guest", (
        ("{guest} arrived early", "{guest} arrived late"), ("{guest} came before supper", "{guest} came after dark"),
    )),
    Family("train", (
        ("the train was on time", "the train was delayed"), ("the express ran", "the express was held up"),
    )),
    Family("power", (("the lights worked", "the power failed"), ("the generator started", "the generator broke down"))),
)
_NAMES = (
    "Mara", "Tobias", "Ines", "Kwame", "Lena", "Oskar", "Priya", "Jonah", "Sofia", "Ravi", "Hana", "Emil",
    "Nadia", "Felix", "Amara", "Bruno", "Yara", "Caspar",
)
# no word is shared between an object, a place, a filler or a template: only the plans and the fact link up
_OBJECTS = (
    "brass key", "old map", "silver locket", "ledger", "violin", "seed packet", "telescope", "pocket watch",
    "recipe book", "compass", "music box", "quilt",
)
_PLACES = (
    "garden shed", "attic trunk", "bakery cellar", "boathouse", "library annex", "clock tower", "greenhouse",
    "coal depot", "chapel loft", "mill storeroom", "fish store", "lighthouse", "school basement", "wine vault",
)
_PLANS = (
    "{owner} said that if {cond}, the {obj} would go to the {place}.",
    "If {cond}, {owner} meant to take the {obj} to the {place}.",
    "{owner} decided that if {cond}, the {obj} would stay in the {place}.",
    "According to {owner}'s plan, if {cond}, the {obj} belonged in the {place}.",
)
_FACTS = (
    "{Cond} that afternoon.",
    "In the event, {cond}.",
    "As it turned out, {cond}.",
    "By evening, {cond}.",
)
_FILLERS = (
    "{other} spent an hour mending a fence.",
    "The village fair was only a week away.",
    "Nobody in the house slept well that night.",
    "A cart rattled past the window at dawn.",
    "{other} could not stop thinking about the harvest.",
    "The kitchen smelled of bread and woodsmoke.",
    "A dog barked somewhere along the lane.",
    "{other} hummed a tune while sweeping the porch.",
    "The goats had escaped into the orchard again.",
    "A neighbour brought over a basket of plums.",
    "The church bells rang at noon.",
    "{other} counted the chickens twice.",
    "Somebody had left the gate unlatched.",
    "Two crows argued on the roof of the barn.",
    "{other} wrote a long note to a cousin.",
    "The cat slept by the stove all day.",
    "A pedlar passed through selling ribbons.",
)
#: filler sentences per story: enough that the two sentences settling it are a small part of the passage
FILLERS = (10, 13)


def fact_sentence(frame: str, clause: str) -> str:
    """A fact frame ("{Cond} that afternoon.") filled with one branch's clause."""
    return frame.format(cond=clause, Cond=clause[0].upper() + clause[1:])


def twin_passages(
    rng: random.Random, plans: Sequence[str], fillers: Sequence[str], facts: Sequence[str], clauses: Sequence[str]
) -> list[tuple[int, list[str]]]:
    """The sentences of a twin pair's two passages, as (branch the fact settles, sentences): both share one
    shuffled order of the plans, the fillers and the fact's slot, and differ only in the fact; which twin comes
    first is drawn."""
    body: list[str | None] = [*plans, None, *fillers]  # None marks where the fact goes
    rng.shuffle(body)
    frame = rng.choice(facts)
    return [
        (branch, [fact_sentence(frame, clauses[branch]) if s is None else s for s in body])
        for branch in rng.sample((0, 1), 2)
    ]


def balanced_plan(rng: random.Random, families: Sequence[F], pairs: int) -> list[tuple[F, bool]]:
    """(family, whether branch 0 leads to choice A) for each pair: every combination equally often, shuffled."""
    plan = [(family, first) for family in families for first in (True, False)]
    plan = (plan * (pairs // len(plan) + 1))[:pairs]
    rng.shuffle(plan)
    return plan


def _twins(rng: random.Random, pair: int, family: Family, branch_zero_first: bool) -> list[TaskItem]:
    owner, guest, other = rng.sample(_NAMES, 3)
    obj = rng.choice(_OBJECTS)
    places = rng.sample(_PLACES, 2)  # places[b] is where branch b sends the object
    clauses = [c.format(guest=guest) for c in rng.choice(family.branches)]
    plans = [
        rng.choice(_PLANS).format(owner=owner, cond=clauses[b], obj=obj, place=places[b]) for b in (0, 1)
    ]
    fillers = [f.format(other=other) for f in rng.sample(_FILLERS, rng.randint(*FILLERS))]
    twins = twin_passages(rng, plans, fillers, _FACTS, clauses)
    # branch 0's place is choice A in half the pairs of each family
    choices = places if branch_zero_first else places[::-1]
    items = []
    for twin, (branch, passage) in enumerate(twins):
        items.append(
            TaskItem(
                id=f"story-{2 * pair + twin:04d}",
                question=f"{owner} kept to the plan. Where did the {obj} go?",
                choices=[f"The {place}" for place in choices],
                answer=choices.index(places[branch]),
                passage=" ".join(passage),
                meta={"pair": pair, "family": family.name, "branch": branch, "sentences": len(passage)},
            )
        )
    return items


def mini_stories(seed: int = 0) -> TaskSet:
    """The built-in mini-stories set: 120 twin pairs (240 items), balanced over condition families and answer
    positions, fixed by the seed."""
    rng = random.Random(f"mini-stories/{seed}")
    plan = balanced_plan(rng, _FAMILIES, SIZE // 2)
    return TaskSet(
        name="mini-stories",
        items=[item for pair, (family, first) in enumerate(plan) for item in _twins(rng, pair, family, first)],
        description="twin stories: two conditional plans and the fact that settles them (two choices)",
    )
