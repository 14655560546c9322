"""Tournaments: named players meet each other on a task, in front of one or more judges.

A TOML config names the players (model, prompt variant, best-of-N, critique–refine), the judges, the protocols
and the task. Every protocol's player roles are filled with every ordering of distinct players — in debate,
every pair of players in both seat orders, and the protocol itself plays both seatings of each item — and
every such game is played in front of every judge. Baselines without players (``blind``, ``expert``) are played
once per judge. Everything lands in one run folder, resumable like any run.
"""

from __future__ import annotations

import itertools
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from oversight.defaults import MAX_CONNECTIONS, default_run_dir
from oversight.errors import UserError, first_error
from oversight.fingerprint import common_parts, digest, fingerprint, judge_part, template_parts
from oversight.judges import load_judge
from oversight.prompts import PromptLibrary
from oversight.protocol import PROTOCOLS, PlayStyle
from oversight.ratings import GameResult, ratings
from oversight.records import RunSummary
from oversight.runner import Matchup, RunPlan, check_items, make_protocol, own_prompts
from oversight.tasks import load_task

DEFAULT_CONFIG = "default.toml"


class PlayerIdentity(BaseModel):
    """Who a tournament player is: a name, a model, and optionally its own prompt templates."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    model: str
    #: a folder of templates overriding the built-ins for this player only (relative to the config file)
    prompts: Path | None = None


# the identity comes last among the bases so that its fields come first (pydantic orders fields from the last
# base to the first), as in the config files and in run.json
class PlayerConfig(PlayStyle, PlayerIdentity):
    """A tournament player as one ``[[players]]`` table gives it: who it is and how it plays."""

    def style(self) -> PlayStyle:
        """How this player produces its turns, without who it is."""
        return PlayStyle.model_validate(self.model_dump(include=set(PlayStyle.model_fields)))


class JudgeConfig(BaseModel):
    """A tournament judge as one ``[[judges]]`` table gives it: a name and a model or any judge spec."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    #: a model spec (an LLM judge)
    model: str | None = None
    #: any judge spec: a model, ``human``, ``module:attr``, ``file.py:attr`` (use instead of ``model``)
    judge: str | None = None

    @model_validator(mode="after")
    def _one_of(self) -> JudgeConfig:
        if (self.model is None) == (self.judge is None):
            raise ValueError("give exactly one of 'model' or 'judge'")
        return self

    @property
    def spec(self) -> str:
        """The judge spec, whichever of ``model`` and ``judge`` gave it."""
        return self.model or self.judge or ""


class TournamentConfig(BaseModel):
    """A whole tournament config file: the task, the protocols, the players and the judges."""

    model_config = ConfigDict(extra="forbid")

    name: str = "tournament"
    task: str = "mini-stories"
    limit: int | None = Field(default=None, ge=1)
    seed: int = 0
    protocols: list[str] = Field(default_factory=lambda: ["debate", "consultancy", "blind", "expert"], min_length=1)
    #: protocol settings, as ``--set`` gives them to ``oversight run``
    settings: dict[str, Any] = Field(default_factory=dict)
    #: protocol → play it on only the first N items: cheap baselines on many items, costly protocols on fewer
    limits: dict[str, int] = Field(default_factory=dict)
    players: list[PlayerConfig] = Field(min_length=1)
    judges: list[JudgeConfig] = Field(min_length=1)
    #: also let a player meet itself (always, when there is only one player)
    self_play: bool = False
    max_connections: int = Field(default=16, ge=1, le=MAX_CONNECTIONS)

    @model_validator(mode="after")
    def _unique_names(self) -> TournamentConfig:
        for kind, names in (("player", [p.name for p in self.players]), ("judge", [j.name for j in self.judges])):
            if duplicate := next((n for n in names if names.count(n) > 1), None):
                raise ValueError(f"two {kind}s are named {duplicate!r}")
        for name, n in self.limits.items():
            if name not in self.protocols:
                raise ValueError(f"limits names {name!r}, which is not among the protocols")
            if n < 1:
                raise ValueError(f"limits.{name} must be at least 1")
        return self


def default_config_text() -> str:
    """The packaged demo config, as ``tournament --print-config`` prints it."""
    return resources.files("oversight.tournaments").joinpath(DEFAULT_CONFIG).read_text(encoding="utf-8")


def config_text(path: Path | None) -> str:
    """The text of the config at ``path``, or of the packaged demo."""
    try:
        return path.read_text(encoding="utf-8") if path else default_config_text()
    except OSError as exc:
        raise UserError(f"{path}: cannot read tournament config ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: tournament config is not UTF-8 text (byte {exc.start})") from None


def load_config(path: Path | None) -> tuple[TournamentConfig, Path | None]:
    """The config at ``path``, or the packaged demo; prompt folders resolve against the config's folder."""
    where = str(path) if path else f"built-in {DEFAULT_CONFIG}"
    text = config_text(path)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{where}: not valid TOML ({exc})") from None
    try:
        config = TournamentConfig.model_validate(raw)
    except ValidationError as exc:
        raise UserError(f"{where}: {first_error(exc, whole='config')}") from None
    base = path.parent if path else None
    if base is not None:
        config.players = [
            player.model_copy(update={"prompts": base / player.prompts})
            if player.prompts is not None and not player.prompts.is_absolute()
            else player
            for player in config.players
        ]
    return config, base


def _player_assignments(roles: list[str], config: TournamentConfig) -> list[dict[str, PlayerConfig]]:
    players = config.players
    if not roles:
        return [{}]
    if config.self_play or len(players) < len(roles):
        combos = itertools.product(players, repeat=len(roles))
    else:
        combos = itertools.permutations(players, len(roles))
    return [dict(zip(roles, combo, strict=True)) for combo in combos]


def add_ratings(summary: RunSummary, games: list[GameResult]) -> None:
    """Bradley–Terry ratings of the players who met head to head, and judge accuracy, into the summary."""
    result = ratings(games)
    if result.players or result.judges:
        summary.ratings = result.model_dump(mode="json")


def plan_tournament(config: TournamentConfig, limit: int | None = None) -> RunPlan:
    """Every matchup of the tournament (each protocol, judge and ordering of players) as one run's plan;
    ``limit`` overrides the config's."""
    task = load_task(config.task, seed=config.seed)
    cut = limit or config.limit
    items = task.items[:cut] if cut else task.items
    libraries: dict[Path | None, PromptLibrary] = {}
    shipped = own_prompts(PROTOCOLS.get(name) for name in config.protocols)

    def library(folder: Path | None) -> PromptLibrary:
        if folder not in libraries:
            libraries[folder] = PromptLibrary(folder, shipped)
        return libraries[folder]

    matchups: list[Matchup] = []
    for name in config.protocols:
        probe = make_protocol(name, config.settings)
        check_items(probe, task, items)
        player_roles = [role for role in probe.roles if role != "judge"]
        for judge_config in config.judges:
            for assignment in _player_assignments(player_roles, config):
                protocol = make_protocol(name, config.settings)
                roles = {role: player.model for role, player in assignment.items()}
                players = {role: player.name for role, player in assignment.items()}
                judge = None
                if "judge" in protocol.roles:
                    players["judge"] = judge_config.name
                    roles["judge"] = judge_config.spec
                    judge = load_judge(judge_config.spec) if protocol.uses_judge else None
                matchup = Matchup(
                    protocol=protocol,
                    roles=roles,
                    judge=judge,
                    prompts=library(None),
                    players=players,
                    role_prompts={role: library(p.prompts) for role, p in assignment.items() if p.prompts},
                    styles={role: p.style() for role, p in assignment.items()},
                    limit=config.limits.get(name),
                )
                matchup.validate()
                matchups.append(matchup)
    # a player's prompts count by their content (the template parts), not by the folder's name
    player_rows = [player.model_dump(mode="json", exclude={"prompts"}) for player in config.players]
    parts = {
        "protocol settings": digest(config.model_dump(mode="json", include={"protocols", "settings"})),
        "players": digest({"players": player_rows, "self_play": config.self_play}),
        "judge": digest([{"name": j.name, "judge": judge_part(j.spec)} for j in config.judges]),
        **common_parts(task, config.seed),
        **template_parts(
            library(None),
            [matchup.protocol.template_dir or matchup.protocol.name for matchup in matchups],
            {player.name: library(player.prompts) for player in config.players if player.prompts},
        ),
    }
    return RunPlan(
        matchups=matchups,
        task=task,
        items=items,
        fingerprint_parts=parts,
        default_out=default_run_dir("tournament", config.name, fingerprint(parts)[:8]),
        config=config.model_dump(mode="json"),
        seed=config.seed,
    )
