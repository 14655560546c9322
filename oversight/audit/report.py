"""The audit of one task set: each shortcut judge's accuracy against chance, as a table or one JSON object."""

from __future__ import annotations

from pydantic import BaseModel
from rich.console import Console
from rich.table import Table
from rich.text import Text

from oversight.audit.regression import REGRESSIONS, cross_validated_picks, skip_reason
from oversight.audit.shortcuts import RULES
from oversight.errors import UserError
from oversight.records import Interval
from oversight.scoring import wilson_interval
from oversight.tasks import TaskItem, TaskSet

AUDIT_SCHEMA_VERSION = 1


class ShortcutResult(BaseModel):
    """How one shortcut judge did on the audited items: its accuracy with a 95% interval and whether chance lies inside
    it, or why it was skipped."""

    name: str
    description: str
    #: None, like accuracy and ci95, when the shortcut was skipped
    correct: int | None = None
    items: int
    accuracy: float | None = None
    ci95: Interval | None = None
    #: chance lies inside the 95% interval; None when the shortcut was skipped
    passes: bool | None = None
    #: why the shortcut was skipped
    note: str | None = None


class AuditReport(BaseModel):
    """The audit of one task set, as ``--json`` writes it: every shortcut judge's result, and a pass when none of them
    does reliably better or worse than chance."""

    schema_version: int = AUDIT_SCHEMA_VERSION
    task: str
    items: int
    #: mean over items of 1 / number of choices
    chance: float
    shortcuts: list[ShortcutResult]
    #: no shortcut's 95% interval excludes chance
    passes: bool


def _scored(name: str, description: str, picks: list[int], items: list[TaskItem], chance: float) -> ShortcutResult:
    correct = sum(pick == item.answer for pick, item in zip(picks, items, strict=True))
    ci = wilson_interval(correct, len(items))
    assert ci is not None  # there is at least one item
    return ShortcutResult(
        name=name,
        description=description,
        correct=correct,
        items=len(items),
        accuracy=correct / len(items),
        ci95=ci,
        passes=ci.low <= chance <= ci.high,
    )


def audit_task(task: TaskSet, seed: int = 0, limit: int | None = None) -> AuditReport:
    """Run every shortcut judge over the first ``limit`` multiple-choice items of the task."""
    items = [item for item in task.items if item.multiple_choice][:limit]
    if not items:
        where = task.source if task.source != "built-in" else f"task {task.name!r}"
        raise UserError(f"{where}: no multiple-choice items to audit")
    chance = sum(1 / len(item.choices) for item in items) / len(items)
    results = [
        _scored(rule.name, rule.looks_at, [rule.pick(item, seed) for item in items], items, chance) for rule in RULES
    ]
    reason = skip_reason(items)
    for regression in REGRESSIONS:
        if reason is None:
            picks = cross_validated_picks(regression, items, seed)
            results.append(_scored(regression.name, regression.looks_at, picks, items, chance))
        else:
            results.append(
                ShortcutResult(name=regression.name, description=regression.looks_at, items=len(items), note=reason)
            )
    return AuditReport(
        task=task.name,
        items=len(items),
        chance=chance,
        shortcuts=results,
        passes=all(result.passes is not False for result in results),
    )


def verdict_line(report: AuditReport) -> str:
    """The audit's one-line outcome: PASS, or FAIL naming every shortcut judge whose interval excludes chance."""
    if report.passes:
        return f"PASS: no shortcut judge's 95% interval excludes chance ({report.chance:.1%})."
    failing = [result.name for result in report.shortcuts if result.passes is False]
    return (
        f"FAIL: {len(failing)} of {len(report.shortcuts)} shortcut judges' 95% intervals exclude chance "
        f"({report.chance:.1%}): {', '.join(failing)}."
    )


def print_audit(report: AuditReport) -> None:
    """Print the audit to the terminal as a table of shortcut judges followed by the verdict line."""
    # a file's name is shown as written, never read as markup
    title = Text(f"audit of {report.task}: {report.items} multiple-choice items, chance {report.chance:.1%}")
    table = Table(title=title, title_justify="left")
    # on a narrow terminal only the descriptions and notes wrap, never a number
    table.add_column("shortcut", no_wrap=True)
    table.add_column("looks at")
    table.add_column("accuracy", justify="right", no_wrap=True)
    table.add_column("95% CI", no_wrap=True)
    table.add_column("result")
    for result in report.shortcuts:
        table.add_row(
            result.name,
            result.description,
            "-" if result.accuracy is None else f"{result.accuracy:.1%}",
            "-" if result.ci95 is None else f"[{result.ci95.low:.1%}, {result.ci95.high:.1%}]",
            result.note or ("pass" if result.passes else "FAIL"),
        )
    console = Console(highlight=False)
    console.print(table)
    console.print(verdict_line(report), markup=False, soft_wrap=True)
