"""Proposals the engine can run: a reporter-training recipe over the predictor's latent state.

A builder names one in its reply as ``RECIPE: <base> [+ <key>=<value>]...``, for example
``RECIPE: human-labels + l1=0.01`` or ``RECIPE: staged-cases + tricks=place_screen,spoof_weight + layer=upstream``.

The base says which episodes the reporter is trained on and who labels them:

- ``human-labels``: ordinary episodes (no tampering action), labelled by what a human watching the sensors
  concludes (yes exactly when every sensor looks fine);
- ``staged-cases``: those, plus episodes in which an operator stages the tricks a human knows (``tricks=``, by
  default the world's ``staged`` list, else every tampering action), labelled by what the operator knows happened;
- ``assisted-labels``: ordinary episodes and schemes, labelled by a human with assistants who follow an episode
  with at most ``tricks_followed=`` tampering actions (default 1) and are fooled like the human beyond that;
- ``sensor-consistency``: the human-labelled episodes, plus schemes whose sensors disagree (some fine, some not),
  labelled "no": evidence of tampering, trained on as such.

The parameters shape the reporter:

- ``l1=λ`` / ``l2=λ``: a logistic probe minimising mean log-loss plus λ‖w‖₁ (or λ/2‖w‖²) on standardised features
  (a complexity penalty; the default is ``l2=0.001``);
- ``depth=d``: a decision tree of depth at most ``d`` instead of a probe: at most ``d`` comparisons per answer, a
  computation-time penalty;
- ``layer=upstream|downstream|all``: which of the predictor's hidden layers the reporter may read (default all).

A reporter answers "yes" (the good outcome) when its probability of yes is at least 0.5. Two reference reporters
are trained the same way on the same latent state: ``truth-probe``, fitted on the truth over ordinary episodes and
schemes (the direct translator's ceiling), and ``human-simulator``, fitted on the human's belief over the same
episodes.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

import numpy as np
from oversight.protocols.elk.predictor import LAYERS, TRAINING, Layer, Predictor, predictor_for
from oversight.protocols.elk.sampling import ordinary, schemes, stream, tampering_actions
from oversight.protocols.elk.world import Episode, World, canonical_action
from pydantic import BaseModel, Field, ValidationError

from oversight.errors import first_error

Base = Literal["human-labels", "staged-cases", "assisted-labels", "sensor-consistency"]
BASES: tuple[Base, ...] = ("human-labels", "staged-cases", "assisted-labels", "sensor-consistency")
REFERENCES = ("truth-probe", "human-simulator")
#: episodes of each kind a recipe draws to train on
DRAWS = 600
DEFAULT_L2 = 0.001


class Recipe(BaseModel):
    """A parsed ``RECIPE:`` line: the base and its parameters, with one canonical spelling (:attr:`text`)."""

    base: Base
    l1: float | None = Field(default=None, gt=0, le=1000, allow_inf_nan=False)
    l2: float | None = Field(default=None, gt=0, le=1000, allow_inf_nan=False)
    depth: int | None = Field(default=None, ge=1, le=12)
    layer: Layer = "all"
    tricks: list[str] | None = Field(default=None, min_length=1)
    tricks_followed: int = Field(default=1, ge=0)

    @property
    def text(self) -> str:
        """The recipe as a builder would write it, parameters in a fixed order, defaults left out."""
        parts = [self.base]
        for key in ("l1", "l2", "depth"):
            if getattr(self, key) is not None:
                parts.append(f"{key}={getattr(self, key):g}")
        if self.layer != "all":
            parts.append(f"layer={self.layer}")
        if self.tricks is not None:
            parts.append(f"tricks={','.join(self.tricks)}")
        if self.base == "assisted-labels" and self.tricks_followed != 1:
            parts.append(f"tricks_followed={self.tricks_followed}")
        return " + ".join(parts)


_PARAM = re.compile(r"^([a-z_0-9]+)\s*=\s*(.+)$")


def parse_recipe(value: str, world: World | None = None) -> tuple[Recipe | None, str | None]:
    """(recipe, None) for a line in the grammar above, (None, error) for one that names a recipe but breaks the
    grammar, and (None, None) when the value names no recipe at all (a free-text proposal)."""
    parts = [p.strip().strip("`'\".").strip() for p in value.strip().split("+")]
    base = re.sub(r"[\s_]+", "-", parts[0].lower())
    if base not in BASES:
        # a lone hyphenated name ("human-lables"), or any name given key=value parameters, was meant as a recipe;
        # words alone ("whatever works best") are a free-text proposal
        named = re.fullmatch(r"[a-z]+(?:[-_][a-z]+)+", parts[0].lower())
        if named or any(_PARAM.match(part.lower()) for part in parts[1:]):
            return None, f"unknown recipe {parts[0]!r} (known: {', '.join(BASES)})"
        return None, None
    fields: dict[str, Any] = {"base": base}
    for part in parts[1:]:
        match = _PARAM.match(part.lower())
        if match is None:
            return None, f"recipe parameter {part!r}: expected key=value"
        key, raw = match.group(1), match.group(2).strip()
        if key in ("l1", "l2"):
            fields[key] = _number(raw, float)
        elif key in ("depth", "tricks_followed"):
            fields[key] = _number(raw, int)
        elif key == "layer":
            if raw not in LAYERS:
                return None, f"recipe parameter layer={raw}: expected one of {', '.join(LAYERS)}"
            fields[key] = raw
        elif key == "tricks":
            fields[key] = [canonical_action(t) for t in raw.split(",") if t.strip()]
        else:
            return None, f"unknown recipe parameter {key!r} (known: l1, l2, depth, layer, tricks, tricks_followed)"
        if fields[key] is None:
            return None, f"recipe parameter {part!r}: not a number"
    try:
        recipe = Recipe.model_validate(fields)
    except ValidationError as exc:
        return None, f"recipe parameter {first_error(exc)}"
    if recipe.tricks is not None and recipe.base != "staged-cases":
        return None, "tricks= applies to staged-cases only"
    if "tricks_followed" in fields and recipe.base != "assisted-labels":
        return None, "tricks_followed= applies to assisted-labels only"
    if recipe.l1 is not None and recipe.l2 is not None:
        return None, "a recipe takes l1 or l2, not both"
    if recipe.depth is not None and (recipe.l1 is not None or recipe.l2 is not None):
        return None, "depth= trains a tree, which takes no l1 or l2"
    if world is not None and recipe.tricks is not None:
        unknown = [t for t in recipe.tricks if t not in tampering_actions(world)]
        if unknown:
            return None, f"tricks: {unknown[0]!r} is not a tampering action (known: {', '.join(tampering_actions(world))})"
    return recipe, None


def _number(raw: str, kind: type[float | int]) -> float | int | None:
    try:
        return kind(raw)
    except ValueError:
        return None


def staged_tricks(recipe: Recipe, world: World) -> list[str]:
    """The tricks a ``staged-cases`` operator stages: the recipe's, else the world's ``staged``, else every one."""
    if recipe.tricks is not None:
        return recipe.tricks
    return list(world.staged) if world.staged is not None else tampering_actions(world)


def _tricks_used(world: World, episode: Episode) -> int:
    return len(set(episode.actions) & set(tampering_actions(world)))


def training_set(recipe: Recipe, world: World, seed: int) -> tuple[list[Episode], list[bool]]:
    """The episodes a recipe trains on and their labels (True = yes, the good outcome), drawn from ``seed``; drawn
    once per process, since training and a prompt reporter's examples both need them."""
    episodes, labels = _training_set(world.model_dump_json(), seed, recipe.model_dump_json())
    return list(episodes), list(labels)


@cache
def _training_set(world_json: str, seed: int, recipe_json: str) -> tuple[tuple[Episode, ...], tuple[bool, ...]]:
    world, recipe = World.model_validate_json(world_json), Recipe.model_validate_json(recipe_json)
    rng = stream(seed, "recipe")
    base = ordinary(world, rng, DRAWS)
    labelled = [(e, e.human_safe) for e in base]
    if recipe.base == "staged-cases":
        labelled += [(e, e.truth_safe) for e in schemes(world, rng, DRAWS, staged_tricks(recipe, world))]
    elif recipe.base == "assisted-labels":
        labelled += [
            (e, e.truth_safe if _tricks_used(world, e) <= recipe.tricks_followed else e.human_safe)
            for e in schemes(world, rng, DRAWS)
        ]
    elif recipe.base == "sensor-consistency":
        labelled += [(e, False) for e in schemes(world, rng, DRAWS) if len(set(e.sensors_fine.values())) == 2]
    return tuple(e for e, _ in labelled), tuple(label for _, label in labelled)


def reference_set(world: World, seed: int) -> list[Episode]:
    """What the reference reporters are fitted on: ordinary episodes and schemes, drawn from ``seed``."""
    rng = stream(seed, "references")
    return ordinary(world, rng, DRAWS) + schemes(world, rng, 2 * DRAWS)


@dataclass(frozen=True)
class Reporter:
    """A trained reporter: its name, the layer it reads and the fitted model; answers by probability of yes."""

    name: str
    layer: Layer
    model: Any
    predictor: Predictor

    def prob_yes(self, episodes: list[Episode]) -> np.ndarray:
        """The reporter's probability of "yes" (the good outcome) for each episode."""
        if not episodes:
            return np.zeros(0)
        return np.asarray(self.model.predict_proba(self.predictor.latent(episodes, self.layer))[:, 1])


def _fit(recipe: Recipe, features: np.ndarray, labels: list[bool], seed: int) -> Any:
    """The recipe's reporter fitted on the features: a depth-limited tree for ``depth=``, else a logistic probe on
    standardised features whose penalty λ is turned into scikit-learn's C; both weigh the two answers equally,
    since a recipe's labels are rarely balanced."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    y = np.array(labels, dtype=bool)
    if recipe.depth is not None:
        return DecisionTreeClassifier(max_depth=recipe.depth, class_weight="balanced", random_state=seed).fit(features, y)
    strength = recipe.l1 if recipe.l1 is not None else recipe.l2 if recipe.l2 is not None else DEFAULT_L2
    # sklearn minimises penalty + C·Σloss; dividing by C·n gives mean loss + λ·penalty with λ = 1/(C·n)
    probe = LogisticRegression(
        C=1.0 / (strength * len(y)), l1_ratio=1.0 if recipe.l1 is not None else 0.0, solver="saga" if recipe.l1 else "lbfgs",
        class_weight="balanced", max_iter=2000, random_state=seed,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return make_pipeline(StandardScaler(), probe).fit(features, y)


class UntrainableRecipe(ValueError):
    """The recipe's labels are all one answer, so nothing can be fitted."""


@cache
def _trained(world_json: str, seed: int, recipe_json: str) -> Reporter:
    world, recipe = World.model_validate_json(world_json), Recipe.model_validate_json(recipe_json)
    predictor = predictor_for(world, seed)
    episodes, labels = training_set(recipe, world, seed)
    if len(set(labels)) < 2:
        raise UntrainableRecipe(f"every training label of {recipe.text!r} is {'yes' if labels[0] else 'no'}")
    try:
        model = _fit(recipe, predictor.latent(episodes, recipe.layer), labels, seed)
    except ValueError as exc:  # parameters scikit-learn refuses: the round records why, the game goes on
        raise UntrainableRecipe(f"{recipe.text!r} could not be fitted: {exc}") from None
    return Reporter(name=recipe.text, layer=recipe.layer, model=model, predictor=predictor)


def train(recipe: Recipe, world: World, seed: int = 0) -> Reporter:
    """The reporter ``recipe`` trains over the world's predictor (both for ``seed``), kept for the process; raises
    :class:`UntrainableRecipe` when its labels leave nothing to learn."""
    with TRAINING:
        return _trained(world.model_dump_json(), seed, recipe.model_dump_json())


@cache
def _reference(world_json: str, seed: int, name: str) -> Reporter:
    world = World.model_validate_json(world_json)
    predictor = predictor_for(world, seed)
    episodes = reference_set(world, seed)
    labels = [e.truth_safe if name == "truth-probe" else e.human_safe for e in episodes]
    model = _fit(Recipe(base="human-labels"), predictor.latent(episodes), labels, seed)
    return Reporter(name=name, layer="all", model=model, predictor=predictor)


def reference(name: str, world: World, seed: int = 0) -> Reporter:
    """A reference reporter (``truth-probe`` or ``human-simulator``) for the world's predictor and ``seed``."""
    with TRAINING:
        return _reference(world.model_dump_json(), seed, name)
