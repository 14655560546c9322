"""One run from config to run folder: resolve names, plan games, resume, play, summarise."""

from __future__ import annotations

import asyncio
import hashlib
import json
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from oversight import __version__
from oversight.defaults import RESULTS_DIR, default_role_spec
from oversight.errors import FatalRunError, UserError
from oversight.judges import Judge, load_judge
from oversight.judges.ensemble import SEPARATOR
from oversight.models.base import BackendOptions, ModelSpec
from oversight.models.cache import ResponseCache, default_cache_dir
from oversight.models.pool import ModelPool
from oversight.orchestrator import play_all
from oversight.progress import RunProgress
from oversight.prompts import PromptLibrary
from oversight.protocol import PROTOCOLS, GameContext, GameSetup, Protocol, ProtocolOptions
from oversight.records import GameRecord, RunManifest, RunSummary, utc_now
from oversight.runfolder import RunFolder, TranscriptWriter
from oversight.scoring import summarize
from oversight.secrets import redact
from oversight.tasks import TaskItem, TaskSet, load_task


class RunConfig(BaseModel):
    """Everything a ``run`` command says; written to ``run.json`` (specs only, never keys)."""

    model_config = ConfigDict(extra="forbid")

    protocol: str
    task: str = "mini-stories"
    limit: int | None = Field(default=None, ge=1)
    model: str | None = None
    roles: dict[str, str] = Field(default_factory=dict)
    #: judge specs; several make an ensemble
    judge: list[str] = Field(default_factory=list)
    #: protocol settings, checked against the protocol's own options model
    options: dict[str, Any] = Field(default_factory=dict)
    seed: int = 0
    out: Path | None = None
    max_connections: int = Field(default=64, ge=1)
    cache: bool = True
    prompts: Path | None = None
    timeout: float = Field(default=120.0, gt=0)
    max_attempts: int = Field(default=6, ge=1)

    @field_validator("judge", mode="before")
    @classmethod
    def _judges_as_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else ([] if value is None else value)

    @field_validator("options", mode="before")
    @classmethod
    def _options_as_dict(cls, value: Any) -> Any:
        return value.model_dump(exclude_unset=True) if isinstance(value, BaseModel) else value


@dataclass
class RunResult:
    folder: RunFolder
    status: Literal["complete", "interrupted"]
    summary: RunSummary
    manifest: RunManifest


def resolve_roles(protocol: Protocol, config: RunConfig) -> dict[str, str]:
    roles = {role: config.model or default_role_spec(role) for role in protocol.roles}
    if config.judge:
        if "judge" not in roles:
            raise UserError(f"--judge: protocol {protocol.name!r} has no judge")
        roles["judge"] = SEPARATOR.join(config.judge)
    for role, spec in config.roles.items():
        if role not in roles:
            raise UserError(f"--role {role}=…: protocol {protocol.name!r} has no role {role!r} (roles: {', '.join(roles)})")
        roles[role] = spec
    return roles


def _task_identity(config: RunConfig, task: TaskSet) -> dict[str, str]:
    if task.source == "built-in":
        return {"task": task.name, "seed": str(config.seed)}
    digest = hashlib.sha256(Path(task.source).read_bytes()).hexdigest()
    return {"task": str(Path(task.source).resolve()), "sha256": digest}


def config_hash(config: RunConfig, options: ProtocolOptions, roles: dict[str, str], task: TaskSet) -> str:
    """Settings that decide which games exist and how they are played (not the limit, out or concurrency)."""
    decisive = {
        "protocol": config.protocol,
        "task": _task_identity(config, task),
        "roles": roles,
        "options": options.model_dump(mode="json"),
        "prompts": str(config.prompts.resolve()) if config.prompts else None,
    }
    return hashlib.sha256(json.dumps(decisive, sort_keys=True).encode()).hexdigest()


class GamePlayer:
    """Turns one setup into one record, whatever happens inside the protocol."""

    def __init__(
        self, protocol: Protocol, roles: dict[str, str], pool: ModelPool, prompts: PromptLibrary, judge: Judge | None
    ) -> None:
        self.protocol = protocol
        self.roles = roles
        self.pool = pool
        self.prompts = prompts
        self.judge = judge

    async def __call__(self, setup: GameSetup) -> GameRecord:
        template_dir = self.protocol.template_dir or self.protocol.name
        ctx = GameContext(template_dir, self.roles, self.pool, self.prompts, self.judge)
        started = utc_now()
        item = setup.item
        base = {
            "game_id": setup.game_id,
            "protocol": setup.protocol,
            "task": setup.task,
            "item_id": item.id,
            "sample": setup.sample,
            "phase": setup.phase,
            "roles": self.roles,
            "question": item.question,
            "choices": item.choices,
            "answer": item.answer,
            "started_at": started,
        }
        try:
            outcome = await self.protocol.play(setup, ctx)
        except FatalRunError:
            raise
        except Exception as exc:  # one game's failure is that game's record, never the run's crash
            return GameRecord(
                **base,
                status="failed",
                seating=setup.seating,
                error=redact(f"{type(exc).__name__}: {exc}"),
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
            finished_at=utc_now(),
        )


def default_out(config: RunConfig, task: TaskSet, fingerprint: str) -> Path:
    return RESULTS_DIR / f"{config.protocol}-{task.name}-{fingerprint[:8]}"


@dataclass
class Plan:
    """A run with every name resolved and every input checked, before anything is written."""

    protocol: Protocol
    task: TaskSet
    items: list[TaskItem]
    roles: dict[str, str]
    #: the judge, for protocols whose judge role is one (otherwise the judge role is a plain model)
    judge: Judge | None
    prompts: PromptLibrary
    #: the first phase's games (later phases depend on what earlier ones produced)
    setups: list[GameSetup]
    fingerprint: str


def plan(config: RunConfig) -> Plan:
    protocol_cls: type[Protocol] = PROTOCOLS.get(config.protocol)
    try:
        options = protocol_cls.options_model.model_validate(config.options)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise UserError(f"{config.protocol} option {'.'.join(map(str, err['loc']))}: {err['msg']}") from None
    protocol = protocol_cls(options)
    task = load_task(config.task, seed=config.seed)
    items = task.items[: config.limit] if config.limit else task.items
    if protocol_cls.needs_choices and (open_ended := next((i for i in items if not i.multiple_choice), None)):
        raise UserError(f"task {task.name!r} item {open_ended.id!r}: {protocol_cls.name} needs choices")
    roles = resolve_roles(protocol, config)
    for role, spec in roles.items():
        if not (protocol.uses_judge and role == "judge"):
            ModelSpec.parse(spec)
    judge = load_judge(roles["judge"]) if protocol.uses_judge and "judge" in roles else None
    prompts = PromptLibrary(config.prompts)
    for template in protocol.templates:
        # a missing or broken template stops us here
        prompts.template(f"{protocol.template_dir or protocol.name}/{template}.j2")
    fingerprint = config_hash(config, options, roles, task)
    setups = list(protocol.setups(task.name, items))
    return Plan(protocol, task, items, roles, judge, prompts, setups, fingerprint)


def model_specs(run: Plan) -> list[str]:
    """Every model the run may call: the roles' models and the judge's."""
    specs = [spec for role, spec in run.roles.items() if not (run.judge is not None and role == "judge")]
    return specs + (run.judge.model_specs() if run.judge is not None else [])


async def execute(config: RunConfig, command: list[str]) -> RunResult:
    run = plan(config)
    backend_options = BackendOptions(
        max_connections=config.max_connections,
        timeout=config.timeout,
        max_attempts=config.max_attempts,
        connection_slots=asyncio.Semaphore(config.max_connections),
    )
    cache = ResponseCache(default_cache_dir() / "responses.sqlite") if config.cache else None
    pool = ModelPool(backend_options, cache)
    try:
        for spec in model_specs(run):
            pool.backend(spec)  # unknown providers and policies fail here, before anything is written
        folder = RunFolder(config.out or default_out(config, run.task, run.fingerprint))
        manifest = _start_manifest(folder, config, run.roles, run.fingerprint, command)
        done = {record.game_id for record in folder.prepare_resume()}
        protocol = run.protocol
        expected = len(run.setups) * protocol.phases
        progress = RunProgress(
            expected, len(done), f"{config.protocol} on {run.task.name}", live=not getattr(run.judge, "uses_terminal", False)
        )
        writer = TranscriptWriter(folder.transcripts_path)
        player = GamePlayer(protocol, run.roles, pool, run.prompts, run.judge)
        planned: set[str] = set()
        status: Literal["complete", "interrupted"] = "interrupted"
        try:
            for phase in range(protocol.phases):
                earlier = [r for r in folder.records() if r.phase < phase and r.game_id in planned]
                setups = run.setups if phase == 0 else list(protocol.setups(run.task.name, run.items, phase, earlier))
                planned.update(s.game_id for s in setups)
                todo = [s for s in setups if s.game_id not in done]
                status = await play_all(todo, player, writer, progress, concurrency=config.max_connections * 2)
                if status == "interrupted":
                    break
        except FatalRunError as exc:
            manifest.status, manifest.error = "aborted", redact(str(exc))
            raise
        finally:
            await writer.close()
            progress.close()
            records = [r for r in folder.records() if r.game_id in planned]
            for name, rows in protocol.artifacts(records).items():
                folder.write_artifact(name, rows)
            summary = summarize(folder.path.name, records, planned=max(expected, len(planned)))
            summary.metrics = {protocol.name: protocol.metrics(records)}
            folder.write_summary(summary)
            manifest.ended_at = utc_now()
            if manifest.status == "running":
                manifest.status = status
            folder.write_manifest(manifest)
    finally:
        await pool.aclose()
    return RunResult(folder=folder, status=status, summary=summary, manifest=manifest)


def _start_manifest(
    folder: RunFolder, config: RunConfig, roles: dict[str, str], fingerprint: str, command: list[str]
) -> RunManifest:
    started_at = utc_now()
    if folder.manifest_path.exists():
        previous = folder.read_manifest()
        started_at = previous.started_at
        if previous.config_hash != fingerprint:
            raise UserError(
                f"{folder.path}: holds a run with other settings (protocol, task, models, rounds or prompts); "
                "use another --out to start a new run"
            )
    folder.path.mkdir(parents=True, exist_ok=True)
    manifest = RunManifest(
        run_id=folder.path.name,
        command=[redact(arg) for arg in command],
        config=config.model_dump(mode="json"),
        config_hash=fingerprint,
        models=roles,
        package_version=__version__,
        python_version=platform.python_version(),
        seed=config.seed,
        started_at=started_at,
    )
    folder.write_manifest(manifest)
    return manifest


