"""From a plan to a run folder: resume, play every game, summarise.

A run is a list of *matchups*: a protocol with its roles bound to models (and, in tournaments, to named players
with their own prompts and play styles) and its judge. ``oversight run`` makes one matchup; a tournament makes
many. Every matchup's games go into the same run folder and the same transcript log.
"""

from __future__ import annotations

import dataclasses
import platform
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
)

from oversight import __version__
from oversight.defaults import MAX_CONNECTIONS, default_role_spec, default_run_dir
from oversight.errors import FatalRunError, UserError, first_error
from oversight.fingerprint import common_parts, describe_change, digest, fingerprint, judge_part, template_parts
from oversight.judges import Judge, load_judge
from oversight.judges.ensemble import SEPARATOR
from oversight.models.base import BackendOptions, ModelSpec
from oversight.models.cache import ResponseCache, default_cache_path
from oversight.models.pool import ModelPool
from oversight.orchestrator import Outcome, play_all
from oversight.progress import RunProgress
from oversight.prompts import PromptLibrary
from oversight.protocol import PROTOCOLS, GameContext, GameSetup, PlayStyle, Protocol
from oversight.provenance import git_revision, package_versions
from oversight.ratings import GameResult, game_result
from oversight.records import GameCounts, GameRecord, RunManifest, RunStatus, RunSummary, utc_now
from oversight.runfolder import RunFolder, TranscriptWriter
from oversight.runlock import RunLock
from oversight.scoring import SummaryTally
from oversight.secrets import redact, remember_url_credentials
from oversight.tasks import TaskItem, TaskSet, load_task
from oversight.training.request import DistillationRecord


class Execution(BaseModel):
    """How to run a plan: concurrency, caching and retries (none of it changes which games exist)."""

    model_config = ConfigDict(extra="forbid")

    out: Path | None = None
    max_connections: int = Field(default=64, ge=1, le=MAX_CONNECTIONS)
    cache: bool = True
    timeout: float = Field(default=120.0, gt=0)
    max_attempts: int = Field(default=6, ge=1)


#: the order of the keys of ``config`` in a plain run's ``run.json``, whichever class declares each field
RUN_JSON_ORDER = (
    "protocol", "task", "limit", "model", "roles", "judge", "options", "seed",
    "out", "max_connections", "cache", "prompts", "timeout", "max_attempts",
)


class RunConfig(Execution):
    """Everything a ``run`` command says: what to play, and how (:class:`Execution`); written to ``run.json``
    (specs only, never keys)."""

    protocol: str
    #: a task name or file; by default the protocol's own default task
    task: str | None = None
    limit: int | None = Field(default=None, ge=1)
    model: str | None = None
    roles: dict[str, str] = Field(default_factory=dict)
    #: judge specs; several make an ensemble
    judge: list[str] = Field(default_factory=list)
    #: protocol settings, checked against the protocol's own options model
    options: dict[str, Any] = Field(default_factory=dict)
    seed: int = 0
    prompts: Path | None = None

    @field_validator("judge", mode="before")
    @classmethod
    def _judges_as_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else ([] if value is None else value)

    @field_validator("options", mode="before")
    @classmethod
    def _options_as_dict(cls, value: Any) -> Any:
        return value.model_dump(exclude_unset=True) if isinstance(value, BaseModel) else value

    @model_serializer(mode="wrap")
    def _in_run_json_order(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """The fields in :data:`RUN_JSON_ORDER`, any it does not name after them."""
        data = handler(self)
        return {**{key: data[key] for key in RUN_JSON_ORDER if key in data}, **data}


@dataclass
class Matchup:
    """One protocol with its roles bound: the unit a run (or a tournament) is made of."""

    protocol: Protocol
    #: role → model spec (for the judge role of a protocol with a judge: the judge's description)
    roles: dict[str, str]
    judge: Judge | None
    prompts: PromptLibrary
    #: role → tournament player name; part of each game's identity
    players: dict[str, str] = field(default_factory=dict)
    #: role → templates of that player's prompt variant
    role_prompts: dict[str, PromptLibrary] = field(default_factory=dict)
    #: role → how that player produces turns (best-of-N, critique–refine)
    styles: dict[str, PlayStyle] = field(default_factory=dict)
    #: play only the run's first N items (a tournament's costly protocols on fewer items than its baselines)
    limit: int | None = None

    @property
    def key(self) -> str:
        """Tells apart matchups of one run; empty for a plain run, so its game ids do not depend on it."""
        if not self.players:
            return ""
        return f"{self.protocol.name}|" + ",".join(f"{role}={name}" for role, name in sorted(self.players.items()))

    def model_specs(self) -> list[str]:
        """Every model the matchup may call: the roles' models, the judge's and the players' helpers."""
        specs = [spec for role, spec in self.roles.items() if not (self.judge is not None and role == "judge")]
        specs += self.judge.model_specs() if self.judge is not None else []
        specs += [s for style in self.styles.values() for s in (style.scorer, style.critic) if s]
        return specs

    def validate(self) -> None:
        """Parse every role's model spec and load each of the protocol's templates from every prompt library the
        matchup uses, so a bad spec or template is an error before anything is written."""
        for role, spec in self.roles.items():
            if not (self.judge is not None and role == "judge"):
                ModelSpec.parse(spec)
        for template in self.protocol.templates:
            # a missing or broken template stops the run before anything is written
            for library in {id(lib): lib for lib in [self.prompts, *self.role_prompts.values()]}.values():
                library.template(f"{self.protocol.template_dir or self.protocol.name}/{template}.j2")


@dataclass
class RunPlan:
    """A run with every name resolved and every input checked, before anything is written."""

    matchups: list[Matchup]
    task: TaskSet
    items: list[TaskItem]
    #: what decides the games, part by part (see :mod:`oversight.fingerprint`)
    fingerprint_parts: dict[str, str]
    default_out: Path
    #: the configuration as written to run.json
    config: dict[str, Any]
    seed: int = 0

    @property
    def fingerprint(self) -> str:
        """One hash over the fingerprint parts; a folder whose run.json holds another is refused."""
        return fingerprint(self.fingerprint_parts)


@dataclass
class RunResult:
    folder: RunFolder
    #: ``complete``, ``incomplete`` (some games failed), ``failed`` (every game) or ``interrupted``
    status: RunStatus
    summary: RunSummary
    manifest: RunManifest
    #: games this command played (none when the folder already held every game)
    played: int

    def outcome(self) -> str:
        """The command's last line: how the run ended and what rerunning the same command does."""
        where = f"transcripts in {self.folder.transcripts_path}"
        if self.status == "interrupted":
            return f"interrupted: rerun the same command to resume · {where}"
        if self.status == "complete":
            return f"complete · {where}"
        failed, games = self.summary.failed, self.summary.games
        waiting = [d for d in self.manifest.distillations if d.method == "export" and d.spec is None]
        if not failed and waiting:
            d = waiting[-1]
            return (
                f"stopped after iteration {d.phase + 1} for fine-tuning: train on {self.folder.path / d.path}, then "
                f"rerun with --role {d.role}=<the fine-tuned model> to continue · {where}"
            )
        counted = f"all {failed} games" if self.status == "failed" else f"{failed} of {games} games"
        return f"{self.status}: {counted} failed; rerun the same command to play them again · {where}"


def run_status(played: Outcome, summary: RunSummary) -> RunStatus:
    """How a run stands once its summary is written: a failed game makes it incomplete, or failed when no game is
    complete."""
    if played == "interrupted":
        return "interrupted"
    if not summary.failed:
        return "complete"
    return "incomplete" if summary.complete else "failed"


def make_protocol(name: str, options: dict[str, Any]) -> Protocol:
    """The protocol ``name`` with ``options`` checked against its own settings; a bad one is a one-line UserError."""
    protocol_cls: type[Protocol] = PROTOCOLS.get(name)
    try:
        return protocol_cls(protocol_cls.options_model.model_validate(options))
    except ValidationError as exc:
        raise UserError(f"{name} option {first_error(exc)}") from None


def own_prompts(protocols: Iterable[Protocol | type[Protocol]]) -> list[Path]:
    """The template folders these protocols ship themselves (plug-ins), each once, in order."""
    return list(dict.fromkeys(p.prompts_folder for p in protocols if p.prompts_folder is not None))


def check_items(protocol: Protocol, task: TaskSet, items: Sequence[TaskItem]) -> None:
    """Refuse, naming the first such item, a task with open-ended items for a protocol that needs choices."""
    if protocol.needs_choices and (open_ended := next((i for i in items if not i.multiple_choice), None)):
        raise UserError(f"task {task.name!r} item {open_ended.id!r}: {protocol.name} needs choices")


def resolve_roles(protocol: Protocol, config: RunConfig) -> dict[str, str]:
    """Role → model spec: ``--model`` or each role's default, then ``--judge`` and ``--role``; without ``--model``,
    an unbound follower takes the model its leader got from ``--role``. A role the protocol lacks is a UserError."""
    roles = {role: config.model or default_role_spec(role) for role in protocol.roles}
    if config.judge:
        if "judge" not in roles:
            raise UserError(f"--judge: protocol {protocol.name!r} has no judge")
        roles["judge"] = SEPARATOR.join(config.judge)
    for role, spec in config.roles.items():
        if role not in roles:
            raise UserError(f"--role {role}=…: protocol {protocol.name!r} has no role {role!r} (roles: {', '.join(roles)})")
        roles[role] = spec
    for role, leader in protocol.role_follows.items():
        # --model binds every role itself; otherwise an unbound follower takes its leader's model
        if config.model is None and role not in config.roles and leader in config.roles:
            roles[role] = roles[leader]
    return roles


def plan(config: RunConfig) -> RunPlan:
    """The plan of an ``oversight run`` command: one matchup."""
    protocol = make_protocol(config.protocol, config.options)
    task = load_task(config.task or protocol.default_task, seed=config.seed)
    items = task.items[: config.limit] if config.limit else task.items
    check_items(protocol, task, items)
    roles = resolve_roles(protocol, config)
    for role, spec in roles.items():
        if not (protocol.uses_judge and role == "judge"):
            ModelSpec.parse(spec)
    judge = load_judge(roles["judge"]) if protocol.uses_judge and "judge" in roles else None
    matchup = Matchup(protocol=protocol, roles=roles, judge=judge, prompts=PromptLibrary(config.prompts, own_prompts([protocol])))
    matchup.validate()
    parts = {
        "protocol settings": digest({"name": config.protocol, "options": protocol.options.model_dump(mode="json")}),
        "models": digest({role: spec for role, spec in roles.items() if judge is None or role != "judge"}),
        **({"judge": judge_part(roles["judge"])} if judge is not None else {}),
        **common_parts(task, config.seed),
        **template_parts(matchup.prompts, [protocol.template_dir or protocol.name]),
    }
    return RunPlan(
        matchups=[matchup],
        task=task,
        items=items,
        fingerprint_parts=parts,
        default_out=default_run_dir(config.protocol, task.name, fingerprint(parts)[:8]),
        config=config.model_dump(mode="json"),
        seed=config.seed,
    )


class GamePlayer:
    """Turns one setup into one record, whatever happens inside the protocol."""

    def __init__(self, matchup: Matchup, pool: ModelPool) -> None:
        self.matchup = matchup
        self.pool = pool

    async def __call__(self, setup: GameSetup) -> GameRecord:
        matchup = self.matchup
        protocol = matchup.protocol
        ctx = GameContext(
            protocol.template_dir or protocol.name,
            matchup.roles,
            self.pool,
            matchup.prompts,
            matchup.judge,
            role_prompts=matchup.role_prompts,
            styles=matchup.styles,
        )
        started = utc_now()
        item = setup.item
        base = {
            "game_id": setup.game_id,
            "protocol": setup.protocol,
            "task": setup.task,
            "item_id": item.id,
            "sample": setup.sample,
            "phase": setup.phase,
            "variant": setup.variant,
            "question": item.question,
            "choices": item.choices,
            "choice_order": list(setup.order),
            "answer": item.answer,
            "item_meta": item.meta,
            "started_at": started,
        }
        try:
            outcome = await protocol.play(setup, ctx)
        except FatalRunError:
            raise
        except Exception as exc:  # one game's failure is that game's record, never the run's crash
            return GameRecord(
                **base,
                roles=matchup.roles,
                players=matchup.players,
                status="failed",
                seating=setup.seating,
                error=redact(f"{type(exc).__name__}: {exc}"),
                turns=ctx.turns,
                calls=ctx.calls,
                finished_at=utc_now(),
            )
        verdict = outcome.verdict
        correct = outcome.correct
        if correct is None and verdict is not None:
            correct = verdict.choice == item.answer
        return GameRecord(
            **base,
            status="complete",
            turns=outcome.turns,
            verdict=verdict,
            correct=correct,
            calls=ctx.calls,
            meta=outcome.meta,
            seating=outcome.seating if outcome.seating is not None else setup.seating,
            roles=outcome.roles if outcome.roles is not None else matchup.roles,
            players=outcome.players if outcome.players is not None else matchup.players,
            finished_at=utc_now(),
        )


def _matchup_setups(matchup: Matchup, run: RunPlan, phase: int, earlier: list[GameRecord]) -> list[GameSetup]:
    mine = [r for r in earlier if r.players == matchup.players and r.protocol == matchup.protocol.name]
    items = run.items[: matchup.limit] if matchup.limit else run.items
    setups = matchup.protocol.setups(run.task.name, items, phase, mine, seed=run.seed)
    # a protocol may name setups itself (re-judging keeps each stored game apart); the matchup's key comes first
    return [dataclasses.replace(s, matchup="|".join(k for k in (matchup.key, s.matchup) if k)) for s in setups]


async def execute_plan(
    run: RunPlan,
    execution: Execution,
    command: list[str],
    summarise: Callable[[RunSummary, list[GameResult]], None] | None = None,
) -> RunResult:
    """Play a plan into its run folder; ``summarise`` may add figures to the summary before it is written, from
    every game's compact result (the records themselves are not held: a run may have 100,000 games)."""
    options = BackendOptions(
        max_connections=execution.max_connections,
        timeout=execution.timeout,
        max_attempts=execution.max_attempts,
    )
    cache = ResponseCache(default_cache_path()) if execution.cache else None
    pool = ModelPool(options, cache)
    lock: RunLock | None = None
    try:
        for matchup in run.matchups:
            matchup.protocol.check_roles(matchup.roles)
            for spec in matchup.model_specs():
                remember_url_credentials(spec)
                pool.backend(spec)  # unknown providers and policies fail here, before anything is written
        players = {id(matchup): GamePlayer(matchup, pool) for matchup in run.matchups}
        owner: dict[str, GamePlayer] = {}  # game id → the matchup's player

        def setups_of(matchup: Matchup, phase: int, earlier: list[GameRecord]) -> list[GameSetup]:
            setups = _matchup_setups(matchup, run, phase, earlier)
            owner.update((s.game_id, players[id(matchup)]) for s in setups)
            return setups

        # the first phase's games are planned before the folder exists, so an item a protocol refuses writes nothing
        first = [s for matchup in run.matchups for s in setups_of(matchup, 0, [])]
        folder = RunFolder(execution.out or run.default_out)
        # held until the run ends: a second process on this folder is refused, so the log has one writer
        lock = RunLock.acquire(folder.path)
        manifest = _start_manifest(folder, run, command)
        done = {record.game_id for record in folder.prepare_resume()}
        phases = max(matchup.protocol.phases for matchup in run.matchups)
        expected = len(first) * phases
        live = not any(getattr(matchup.judge, "uses_terminal", False) for matchup in run.matchups)
        label = run.matchups[0].protocol.name if len(run.matchups) == 1 else f"{len(run.matchups)} matchups"
        progress = RunProgress(expected, len(done), f"{label} on {run.task.name}", live=live, retries=options.retries)
        pool.watcher = progress
        writer = TranscriptWriter(folder.transcripts_path)
        planned: set[str] = set()
        status: Outcome = "interrupted"
        exported = False
        try:
            for phase in range(phases):
                # later phases read what earlier ones produced (only of protocols that play them); the first, nothing
                phased = {matchup.protocol.name for matchup in run.matchups if matchup.protocol.phases > phase}
                earlier = [
                    r for r in folder.records_at(folder.index().offsets_of(phased, planned)) if r.phase < phase
                ] if phase else []
                setups = first if phase == 0 else [
                    s for matchup in run.matchups if matchup.protocol.phases > phase
                    for s in setups_of(matchup, phase, earlier)
                ]
                planned.update(s.game_id for s in setups)
                todo = [s for s in setups if s.game_id not in done]
                status = await play_all(
                    todo, lambda s: owner[s.game_id](s), writer, progress, concurrency=execution.max_connections * 2
                )
                # played: 100,000 setups hold ~90 MB, which the next phase or the summary can use instead
                setups.clear()
                todo.clear()
                if status == "interrupted":
                    break
                if phase + 1 < phases and await _distil_after(phase, run, folder, planned, manifest, progress):
                    exported = True  # the later phases wait for a model fine-tuned elsewhere
                    break
        except FatalRunError as exc:
            manifest.status, manifest.error = "aborted", redact(str(exc))
            raise
        finally:
            manifest.ended_at = utc_now()
            if manifest.status == "running":
                # until its summary is written: a run stopped from here on is finished by a rerun
                manifest.status = "interrupted"
            folder.write_manifest(manifest)
            await writer.close()
            progress.close()
            results: list[GameResult] = []
            summary = _summarise(folder, run, planned, max(expected, len(planned)), results if summarise else None)
            if summarise is not None:
                summarise(summary, results)
            summary.distillations = manifest.distillations
            folder.write_summary(summary)
            if manifest.status != "aborted":
                manifest.status = run_status(status, summary)
                if exported and manifest.status == "complete":
                    manifest.status = "incomplete"
            manifest.games = GameCounts(
                planned=summary.games, complete=summary.complete, failed=summary.failed, pending=summary.pending
            )
            folder.write_manifest(manifest)
    finally:
        await pool.aclose()
        if lock is not None:
            lock.release()
    return RunResult(folder=folder, status=manifest.status, summary=summary, manifest=manifest, played=progress.played)


async def _distil_after(
    phase: int, run: RunPlan, folder: RunFolder, planned: set[str], manifest: RunManifest, progress: RunProgress
) -> bool:
    """Carry out what each matchup's protocol asks to distil from ``phase`` (rebinding its roles for the phases
    after) and record it in the manifest; True when an export means the run stops here."""
    from oversight.training.step import distil

    stop = False
    index = folder.index()
    for matchup in run.matchups:
        if matchup.protocol.phases <= phase + 1:
            continue
        records = [
            r for r in folder.records_at(index.offsets_of({matchup.protocol.name}, planned))
            if r.phase == phase and r.players == matchup.players and r.status == "complete"
        ]
        request = matchup.protocol.distillation(phase, records)
        if request is None:
            continue
        exported = next(
            (d for d in manifest.distillations if (d.phase, d.role, d.method) == (phase, request.role, "export")), None
        )
        if exported is not None and matchup.roles[request.role] != exported.base_spec:
            # rows exported by an earlier attempt, and the role now names the model fine-tuned on them
            exported.spec = matchup.roles[request.role]
            folder.write_manifest(manifest)
            continue
        progress.distilling(request.role, len(request.rows), phase + 1)
        record = await distil(request, matchup.roles, folder.path)
        manifest.distillations = [
            d for d in manifest.distillations if (d.phase, d.role) != (record.phase, record.role)
        ] + [record]
        folder.write_manifest(manifest)
        if record.method == "export":
            progress.exported(folder.path / record.path)
            stop = True
    return stop


def _summarise(
    folder: RunFolder, run: RunPlan, planned: set[str], games: int, results: list[GameResult] | None
) -> RunSummary:
    """The summary of the planned games in one pass over the log, protocol by protocol (through its index): each
    record is read once, counted, given to its protocol's metrics and, when ``results`` is a list, kept there as a
    compact result. Only protocol artifacts (``ida``'s distilled pairs) read their protocol's games again."""
    tally = SummaryTally()
    index = folder.index()
    metrics: dict[str, dict[str, Any]] = {}
    by_protocol: dict[str, Protocol] = {}
    for matchup in run.matchups:
        by_protocol.setdefault(matchup.protocol.name, matchup.protocol)
    for name in sorted(set(index.protocols) | set(by_protocol)):
        offsets = index.offsets_of({name}, planned)
        if not offsets:
            continue
        # records may come from a protocol the plan does not play itself (re-judged games)
        protocol = by_protocol.get(name) or make_protocol(name, {})
        stream = _counted(folder.records_at(offsets), tally, results)
        figures = protocol.metrics(stream)
        if figures is not None:
            metrics[name] = figures.model_dump(mode="json")
        for _ in stream:  # the games a protocol's metrics did not read still count in the summary
            pass
        for artifact, rows in protocol.artifacts(folder.records_at(offsets)).items():
            folder.write_artifact(artifact, rows)
    summary = tally.summary(folder.path.name, planned=games, skipped=run.task.skipped)
    summary.metrics = metrics
    return summary


def _counted(
    records: Iterator[GameRecord], tally: SummaryTally, results: list[GameResult] | None
) -> Iterator[GameRecord]:
    for record in records:
        tally.add(record)
        if results is not None:
            results.append(game_result(record))
        yield record


async def execute(config: RunConfig, command: list[str]) -> RunResult:
    """Plan an ``oversight run`` command and play it, run as its own settings say."""
    return await execute_plan(plan(config), config, command)


def _start_manifest(folder: RunFolder, run: RunPlan, command: list[str]) -> RunManifest:
    started_at = utc_now()
    distillations: list[DistillationRecord] = []
    if folder.manifest_path.exists():
        previous = folder.read_manifest()
        started_at, distillations = previous.started_at, previous.distillations
        if previous.config_hash != run.fingerprint and not _continues_export(previous, run):
            change = describe_change(previous.fingerprint_parts, run.fingerprint_parts)
            raise UserError(f"{folder.path}: holds a run with other settings: {change}; use another --out")
    models: dict[str, str] = {}
    for matchup in run.matchups:
        for role, spec in matchup.roles.items():
            models[f"{matchup.players[role]}" if role in matchup.players else role] = spec
    manifest = RunManifest(
        run_id=folder.path.name,
        command=[redact(arg) for arg in command],
        config=run.config,
        config_hash=run.fingerprint,
        fingerprint_parts=run.fingerprint_parts,
        models=models,
        package_version=__version__,
        git_revision=git_revision(),
        packages=package_versions(),
        python_version=platform.python_version(),
        seed=run.seed,
        started_at=started_at,
        source_run=run.config.get("source_run"),
        distillations=distillations,
    )
    folder.write_manifest(manifest)
    return manifest


def _continues_export(previous: RunManifest, run: RunPlan) -> bool:
    """Whether a run stopped for a hosted fine-tuning (``distill=export``) is being continued as intended: only
    the models changed, and only those of roles whose rows were exported."""
    exported = {d.role for d in previous.distillations if d.method == "export"}
    old, new = previous.fingerprint_parts, run.fingerprint_parts
    changed = {key.partition(":")[0] for key in old.keys() | new.keys() if old.get(key) != new.get(key)}
    if not exported or changed != {"models"}:
        return False
    roles = {role: spec for matchup in run.matchups for role, spec in matchup.roles.items()}
    return all(previous.models.get(role) == spec for role, spec in roles.items() if role not in exported)
