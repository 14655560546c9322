"""``oversight judge``: stored games judged again by another judge, without a single debater call.

Each complete game of a judged protocol is shown to the new judge exactly as its protocol shows it (the same
view, rebuilt from the stored turns) and recorded in a new run folder that names its source. The new run is
resumable like any other.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, ClassVar

from oversight.errors import UserError
from oversight.fingerprint import common_parts, digest, fingerprint, judge_part, template_parts
from oversight.judges import load_judge
from oversight.prompts import PromptLibrary
from oversight.protocol import PROTOCOLS, GameContext, GameOutcome, GameSetup, Protocol, ProtocolOptions
from oversight.records import GameRecord, Turn
from oversight.runfolder import RunFolder
from oversight.runner import Matchup, RunPlan, make_protocol
from oversight.tasks import TaskItem, TaskSet, load_task

#: kinds of turns that belong to the game rather than to the old judge's verdict
KEPT_TURNS = ("argument", "question", "choice")


class Rejudge(Protocol):
    name: ClassVar[str] = "rejudge"
    roles: ClassVar[tuple[str, ...]] = ("judge",)
    templates: ClassVar[tuple[str, ...]] = ("judge",)
    uses_judge: ClassVar[bool] = True
    template_dir: ClassVar[str | None] = "debate"
    description: ClassVar[str] = "stored games judged again"

    def __init__(self, records: list[GameRecord], passages: dict[str, str], settings: dict[str, Any]) -> None:
        super().__init__(ProtocolOptions())
        self.records = records
        self.passages = passages
        self.settings = settings

    def setups(
        self, task: str, items: Sequence[TaskItem], phase: int = 0, earlier: Sequence[GameRecord] = (), seed: int = 0
    ) -> Iterable[GameSetup]:
        for record in self.records:
            item = TaskItem(
                id=record.item_id,
                question=record.question,
                choices=record.choices,
                answer=record.answer if record.answer is not None else 0,
                passage=self.passages.get(record.item_id),
                meta=record.item_meta,
            )
            yield GameSetup(
                protocol=record.protocol, task=record.task, item=item, seating=record.seating,
                sample=record.sample, order=tuple(record.choice_order), matchup=record.game_id,
                context={"record": record},
            )

    async def play(self, game: GameSetup, ctx: GameContext) -> GameOutcome:
        record: GameRecord = game.context["record"]
        original = make_protocol(record.protocol, self.settings)
        if getattr(getattr(original, "rules", None), "judge_sees_passage", False) and game.item.passage is None:
            raise RuntimeError(f"the passage of item {record.item_id!r} is not available to show the judge")
        if ctx.judge is None or not hasattr(original, "judge_view"):
            raise RuntimeError(f"{record.protocol} games cannot be judged again")
        kept = [t for t in record.turns if t.meta.get("kind") in KEPT_TURNS]
        view = original.judge_view(game.item, kept, original.options.rounds)
        verdict = await ctx.judge.decide(view, ctx)
        judge_name = ctx.judge.describe()
        return GameOutcome(
            turns=[*kept, Turn(role="judge", content=verdict.raw, meta={"kind": "verdict"})],
            verdict=verdict,
            seating=record.seating,
            roles={**record.roles, "judge": judge_name},
            players={**record.players, "judge": judge_name} if record.players else {},
            meta={**record.meta, "source_game": record.game_id},
        )


def _source_task(config: dict[str, Any]) -> TaskSet | None:
    try:
        return load_task(str(config.get("task", "")), seed=int(config.get("seed", 0)))
    except (UserError, ValueError):
        return None  # passages are then unavailable; only games whose judge reads the passage need them


def plan_rejudge(run_dir: Path, judges: list[str]) -> RunPlan:
    if not judges:
        raise UserError("oversight judge: give --judge SPEC (a model spec, human, or a plug-in)")
    source = RunFolder.open_existing(run_dir)
    manifest = source.read_manifest()
    judgeable = {name for name in PROTOCOLS.names() if PROTOCOLS.get(name).uses_judge}
    records = [r for r in source.records() if r.status == "complete" and r.protocol in judgeable]
    if not records:
        raise UserError(f"{run_dir}: no complete games with a judge to judge again")
    spec = " + ".join(judges)
    judge = load_judge(spec)
    settings = dict(manifest.config.get("options") or manifest.config.get("settings") or {})
    task = _source_task(manifest.config)
    passages = {item.id: item.passage for item in task.items if item.passage} if task else {}
    protocol = Rejudge(records, passages, settings)
    matchup = Matchup(protocol=protocol, roles={"judge": spec}, judge=judge, prompts=PromptLibrary(),
                  players={"judge": judge.describe()})
    matchup.validate()
    task_set = task or TaskSet(name=str(manifest.config.get("task", "stored")), items=[])
    parts = {
        "source run": digest({"run": manifest.run_id, "config_hash": manifest.config_hash}),
        "judge": judge_part(spec),
        **common_parts(task_set, manifest.seed),
        **template_parts(matchup.prompts, [protocol.template_dir or protocol.name]),
    }
    return RunPlan(
        matchups=[matchup],
        task=task_set,
        items=[],
        fingerprint_parts=parts,
        default_out=run_dir.parent / f"{run_dir.name}-judged-{fingerprint(parts)[:8]}",
        config={"source_run": str(run_dir), "judge": spec},
        seed=manifest.seed,
    )
