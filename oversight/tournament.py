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
from oversight.errors import UserError
from oversight.fingerprint import common_parts, digest, fingerprint, judge_part, template_parts
from oversight.judges import load_judge
from oversight.prompts import PromptLibrary
from oversight.protocol import PlayStyle
from oversight.ratings import GameResult, ratings
from oversight.records import RunSummary
from oversight.runner import Matchup, RunPlan, check_items, make_protocol
from oversight.tasks import load_task

DEFAULT_CONFIG = "default.toml"


class PlayerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    model: str
    #: a folder of templates overriding the built-ins for this player only (relative to the config file)
    prompts: Path | None = None
    best_of: int = Field(default=1, ge=1, le=32)
    temperature: float = Field(default=0.8, ge=0.0)
    scorer: str | None = None
    critique_refine: bool = False
    critic: str | None = None

    def style(self) -> PlayStyle:
        return PlayStyle(
            best_of=self.best_of,
            temperature=self.temperature,
            scorer=self.scorer,
            critique_refine=self.critique_refine,
            critic=self.critic,
        )


class JudgeConfig(BaseModel):
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
        return self.model or self.judge or ""


class TournamentConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = "tournament"
    task: str = "mini-stories"
    limit: int | None = Field(default=None, ge=1)
    seed: int = 0
    protocols: list[str] = Field(default_factory=lambda: ["debate", "consultancy", "blind", "expert"], min_length=1)
    #: protocol settings, as ``--set`` gives them to ``oversight run``
    settings: dict[str, Any] = Field(default_factory=dict)
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
        return self


def default_config_text() -> str:
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
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "config"
        raise UserError(f"{where}: {field}: {err['msg']}") from None
    base = path.parent if path else None
    for player in config.players:
        if player.prompts is not None and base is not None and not player.prompts.is_absolute():
            player.prompts = base / player.prompts
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
    task = load_task(config.task, seed=config.seed)
    cut = limit or config.limit
    items = task.items[:cut] if cut else task.items
    libraries: dict[Path | None, PromptLibrary] = {}

    def library(folder: Path | None) -> PromptLibrary:
        if folder not in libraries:
            libraries[folder] = PromptLibrary(folder)
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
