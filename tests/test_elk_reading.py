"""Reading agents' replies in the ELK game: proposals and the recipe grammar, counterexamples with an episode or a
family, rulings and a reporter's yes or no."""

from __future__ import annotations

import pytest
from oversight.protocols.elk.parsing import (
    parse_actions,
    parse_counterexample,
    parse_proposal,
    parse_ruling,
    parse_yes_no,
)
from oversight.protocols.elk.recipes import Recipe, parse_recipe
from oversight.protocols.elk.scenarios import library

VAULT = next(s for s in library() if s.id == "smartvault").world
TAMPERING = ["robber_enters", "place_screen", "take_diamond", "spoof_weight", "forge_door_log", "robber_leaves"]


@pytest.mark.parametrize(
    "text",
    [
        "ACTIONS: robber_enters, place_screen, take_diamond, spoof_weight, forge_door_log, robber_leaves",
        "Actions - robber_enters -> place_screen -> take_diamond -> spoof_weight -> forge_door_log -> robber_leaves",
        "**ACTIONS:** robber enters; place screen; take diamond; spoof weight; forge door log; robber leaves",
        "ACTIONS: robber_enters place_screen take_diamond spoof_weight forge_door_log robber_leaves",
        'Here is the episode:\n```json\n["robber_enters", "place_screen", "take_diamond", "spoof_weight", '
        '"forge_door_log", "robber_leaves"]\n```',
        'ACTIONS: ["robber_enters", "place_screen", "take_diamond", "spoof_weight", "forge_door_log", "robber_leaves"]',
        "ACTIONS:\n1. robber_enters\n2. place_screen\n3. take_diamond\n4. spoof_weight\n5. forge_door_log\n6. robber_leaves",
    ],
)
def test_an_attached_episode_is_read_in_any_simple_format(text: str) -> None:
    assert parse_actions(text) == (TAMPERING, None)


def test_no_episode_and_a_malformed_one_are_told_apart() -> None:
    assert parse_actions("COUNTEREXAMPLE: a story") == (None, None)
    assert parse_actions("ACTIONS: none") == (None, None)
    assert parse_actions("```json\n[1, 2]\n```") == (None, "actions: expected a list of action names")


def test_a_proposal_may_attach_a_rule_or_a_prompt_reporter() -> None:
    rule = parse_proposal("STRATEGY: train on labels\nWHY: it fits\nREPORTER: reads-latent")
    assert (rule.strategy, rule.why, rule.reporter) == ("train on labels", "it fits", "reads-latent")
    prompt = parse_proposal("Strategy: x\nReporter: Answer from the latent state, ignore the camera.")
    assert prompt.reporter == "prompt" and prompt.reporter_prompt == "Answer from the latent state, ignore the camera."
    unknown = parse_proposal("STRATEGY: x\nREPORTER: reads-minds")
    assert unknown.reporter is None and unknown.reporter_error == "unknown reporter rule 'reads-minds' (known: reads-sensors, reads-latent)"
    assert parse_proposal("STRATEGY: x\nREPORTER: none").reporter is None
    unlabelled = parse_proposal("Just train it on more data.")
    assert unlabelled.strategy == "Just train it on more data." and unlabelled.reporter is None
    assert unlabelled.recipe is None and unlabelled.recipe_error is None


def test_a_proposal_names_its_recipe_in_canonical_spelling_or_records_why_it_cannot() -> None:
    proposal = parse_proposal(
        "STRATEGY: stage the screen trick\nWHY: labels stay right\n"
        "**Recipe:** Staged Cases + tricks=Place Screen + layer=upstream\nREPORTER: none",
        VAULT,
    )
    assert proposal.strategy == "stage the screen trick"
    assert (proposal.recipe, proposal.recipe_error) == ("staged-cases + layer=upstream + tricks=place_screen", None)
    typo = parse_proposal("STRATEGY: x\nRECIPE: human-lables", VAULT)
    assert typo.recipe is None and typo.recipe_error is not None and typo.recipe_error.startswith("unknown recipe")
    prose = parse_proposal("STRATEGY: x\nRECIPE: train on what the guard says", VAULT)
    assert (prose.recipe, prose.recipe_error) == (None, None)


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("human-labels", "human-labels"),
        ("Human Labels", "human-labels"),
        ("`staged_cases`", "staged-cases"),
        ("human-labels + L1=0.010", "human-labels + l1=0.01"),
        ("human-labels + layer=upstream + l2=0.5", "human-labels + l2=0.5 + layer=upstream"),
        ("human-labels + layer=all + l2=0.001", "human-labels + l2=0.001"),  # the default layer is left out
        ("human-labels + depth=2", "human-labels + depth=2"),
        ("staged-cases + tricks=place screen, Spoof-Weight", "staged-cases + tricks=place_screen,spoof_weight"),
        ("assisted-labels + tricks_followed=2", "assisted-labels + tricks_followed=2"),
        ("assisted-labels + tricks_followed=1", "assisted-labels"),  # the default
        ("sensor-consistency.", "sensor-consistency"),
    ],
)
def test_a_recipe_has_one_canonical_spelling(text: str, canonical: str) -> None:
    recipe, error = parse_recipe(text, VAULT)
    assert error is None and recipe is not None and recipe.text == canonical
    assert parse_recipe(canonical, VAULT) == (recipe, None)  # the canonical spelling reads back as the same recipe


def test_recipe_parameters_are_read_into_the_recipe() -> None:
    recipe, _ = parse_recipe("staged-cases + l1=0.05 + layer=downstream + tricks=place_screen", VAULT)
    assert recipe == Recipe(base="staged-cases", l1=0.05, layer="downstream", tricks=["place_screen"])
    tree, _ = parse_recipe("human-labels + depth=3")
    assert tree is not None and (tree.depth, tree.l1, tree.l2, tree.layer) == (3, None, None, "all")


KNOWN = "(known: human-labels, staged-cases, assisted-labels, sensor-consistency)"


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("human-lables", f"unknown recipe 'human-lables' {KNOWN}"),
        ("human lables + l1=0.1", f"unknown recipe 'human lables' {KNOWN}"),
        ("human-labels + l1=0.01 + l2=0.01", "a recipe takes l1 or l2, not both"),
        ("human-labels + depth=2 + l1=0.01", "depth= trains a tree, which takes no l1 or l2"),
        ("human-labels + l1=abc", "recipe parameter 'l1=abc': not a number"),
        ("human-labels + depth=2.5", "recipe parameter 'depth=2.5': not a number"),
        ("human-labels + l1=-1", "recipe parameter l1: Input should be greater than 0"),
        ("human-labels + depth=0", "recipe parameter depth: Input should be greater than or equal to 1"),
        ("human-labels + l1", "recipe parameter 'l1': expected key=value"),
        ("human-labels + layer=middle", "recipe parameter layer=middle: expected one of all, upstream, downstream"),
        (
            "human-labels + speed=1",
            "unknown recipe parameter 'speed' (known: l1, l2, depth, layer, tricks, tricks_followed)",
        ),
        ("human-labels + l1=1001", "recipe parameter l1: Input should be less than or equal to 1000"),
        ("human-labels + l2=5000", "recipe parameter l2: Input should be less than or equal to 1000"),
        ("human-labels + l1=inf", "recipe parameter l1: Input should be a finite number"),
        ("human-labels + l2=-inf", "recipe parameter l2: Input should be a finite number"),
        ("human-labels + l2=nan", "recipe parameter l2: Input should be a finite number"),
        ("human-labels + l1=1e999", "recipe parameter l1: Input should be a finite number"),
        ("staged-cases + tricks=", "recipe parameter 'tricks=': expected key=value"),
        (
            "staged-cases + tricks=,",
            "recipe parameter tricks: List should have at least 1 item after validation, not 0",
        ),
        ("human-labels + tricks=place_screen", "tricks= applies to staged-cases only"),
        ("human-labels + tricks_followed=3", "tricks_followed= applies to assisted-labels only"),
        (
            "staged-cases + tricks=place_screen,smash_camera",
            "tricks: 'smash_camera' is not a tampering action "
            "(known: place_screen, spoof_weight, place_replica, forge_door_log)",
        ),
    ],
)
def test_a_broken_recipe_gets_a_one_line_error(text: str, error: str) -> None:
    assert parse_recipe(text, VAULT) == (None, error)
    assert "\n" not in error


@pytest.mark.parametrize("text", ["none", "n/a", "whatever works best", "Train on labels, then penalise size."])
def test_a_value_that_names_no_recipe_is_free_text(text: str) -> None:
    assert parse_recipe(text, VAULT) == (None, None)


def test_the_penalties_stop_at_a_thousand() -> None:
    for name in ("l1", "l2"):
        recipe, error = parse_recipe(f"human-labels + {name}=1000", VAULT)
        assert error is None and recipe is not None and getattr(recipe, name) == 1000
    # the bounds hold without a world too, and for a recipe built directly
    assert parse_recipe("human-labels + l2=inf") == (None, "recipe parameter l2: Input should be a finite number")
    assert parse_recipe("staged-cases + tricks=,")[0] is None
    with pytest.raises(ValueError):
        Recipe(base="human-labels", l1=float("nan"))
    with pytest.raises(ValueError):
        Recipe(base="staged-cases", tricks=[])


def test_tricks_are_checked_only_against_a_world() -> None:
    recipe, error = parse_recipe("staged-cases + tricks=smash_camera")
    assert error is None and recipe is not None and recipe.tricks == ["smash_camera"]


def test_counterexamples_concessions_and_malformed_replies() -> None:
    full = parse_counterexample("**Counterexample:** the guard is fooled\n**Bad reporter:** the human simulator")
    assert (full.story, full.bad_reporter, full.malformed, full.conceded) == (
        "the guard is fooled", "the human simulator", False, False
    )
    conceded = parse_counterexample("NO COUNTEREXAMPLE")
    assert conceded.conceded and not conceded.malformed and conceded.story == ""
    rambling = parse_counterexample("I think the robber could cover the camera somehow.")
    assert rambling.malformed and rambling.story == "I think the robber could cover the camera somehow."


def test_a_family_and_a_single_episode_are_told_apart() -> None:
    story = "COUNTEREXAMPLE: the guard is fooled\nBAD REPORTER: the human simulator\n"
    family = parse_counterexample(story + "FAMILY: robber_enters, place_screen, take_diamond")
    assert family.family and family.actions == ["robber_enters", "place_screen", "take_diamond"]
    single = parse_counterexample(story + "ACTIONS: robber_enters, place_screen, take_diamond")
    assert not single.family and single.actions == ["robber_enters", "place_screen", "take_diamond"]
    both = parse_counterexample(story + "ACTIONS: robber_enters\nFAMILY: robber_enters, take_diamond")
    assert both.family and both.actions == ["robber_enters", "take_diamond"]  # a family is read first
    fenced = parse_counterexample(story + 'Family:\n```json\n["Robber Enters", "take-diamond"]\n```')
    assert fenced.family and fenced.actions == ["robber_enters", "take_diamond"]
    empty = parse_counterexample(story + "FAMILY: none")
    assert not empty.family and empty.actions is None and empty.actions_error is None
    conceded = parse_counterexample("NO COUNTEREXAMPLE\nFAMILY: robber_enters")
    assert conceded.conceded and not conceded.family and conceded.actions is None


@pytest.mark.parametrize(
    ("tail", "read"),
    [("", None), ("]" * 2000, None), (' "robber_enters"' + "]" * 2000, ["robber_enters"])],
)
def test_a_family_of_deeply_nested_brackets_is_read_without_raising(tail: str, read: list[str] | None) -> None:
    # 2000 nested lists exceed the JSON decoder's recursion limit: the list is not read as JSON, and what remains
    # is read as a plain list of names, if any
    story = "COUNTEREXAMPLE: the guard is fooled\nBAD REPORTER: the human simulator\n"
    counter = parse_counterexample(story + "FAMILY: " + "[" * 2000 + tail)
    assert (counter.actions, counter.actions_error, counter.family) == (read, None, read is not None)
    assert parse_actions(f"```json\n{'[' * 2000}{tail}\n```") == (None, None)


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        ("RULING: valid\nREASON: fine", True),
        ("RULING: invalid\nREASON: no bad reporter", False),
        ("**Ruling:** Not valid - the episode failed", False),
        ("The counterexample is valid because it works.", True),
        ("I am not sure.", None),
    ],
)
def test_rulings_are_read_forgivingly(text: str, valid: bool | None) -> None:
    assert parse_ruling(text)[0] is valid


def test_yes_and_no_answers() -> None:
    assert parse_yes_no("Yes.") is True and parse_yes_no("no") is False and parse_yes_no("maybe") is None
