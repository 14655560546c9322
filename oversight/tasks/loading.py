"""Reading task files: JSONL or CSV with ``id``, ``question``, ``choices``, ``answer`` and optional ``passage``.

Every problem is reported as one line naming the file, the line and the field.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from oversight.errors import UserError, first_error
from oversight.tasks.items import TaskItem, TaskSet, json_objects
from oversight.tasks.quality import load_quality, looks_like_quality
from oversight.tasks.registry import TASKS

_FIELDS = ("id", "question", "choices", "answer", "passage", "meta")


def _item(path: Path, line: int, row: dict[str, Any], seen: set[str]) -> TaskItem:
    item_id = row.get("id")
    if isinstance(item_id, int) and not isinstance(item_id, bool):
        row = {**row, "id": str(item_id)}  # a numbered task file: 7 and "7" name the same item
    elif "id" in row and not isinstance(item_id, str):
        raise UserError(f"{path}:{line}: field 'id': must be a string or an integer, not {json.dumps(item_id)}")
    unknown = set(row) - set(_FIELDS)
    if unknown:
        raise UserError(f"{path}:{line}: unknown field(s) {', '.join(sorted(unknown))} (expected {', '.join(_FIELDS)})")
    try:
        item = TaskItem.model_validate(row)
    except ValidationError as exc:
        raise UserError(f"{path}:{line}: {first_error(exc, whole='item', quoted=True)}") from None
    if item.id in seen:
        raise UserError(f"{path}:{line}: field 'id': duplicate id {item.id!r}")
    seen.add(item.id)
    return item


def _read_jsonl(path: Path, text: str) -> list[TaskItem]:
    seen: set[str] = set()
    return [_item(path, number, row, seen) for number, row in json_objects(path, text)]


def _csv_choices(path: Path, line: int, value: str) -> list[str]:
    value = value.strip()
    if value.startswith("["):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            raise UserError(f"{path}:{line}: field 'choices': not a valid JSON list") from None
        return parsed
    return [part.strip() for part in value.split("|")]


def _read_csv(path: Path, text: str) -> list[TaskItem]:
    items: list[TaskItem] = []
    seen: set[str] = set()
    reader = csv.DictReader(text.splitlines())
    missing = {"id", "question", "choices", "answer"} - set(reader.fieldnames or [])
    if missing:
        raise UserError(f"{path}:1: missing column(s) {', '.join(sorted(missing))}")
    for row in reader:
        line = reader.line_num
        parsed: dict[str, Any] = {k: v for k, v in row.items() if k is not None and v not in (None, "")}
        if "choices" in parsed:
            parsed["choices"] = _csv_choices(path, line, parsed["choices"])
        if "answer" in parsed:
            try:
                parsed["answer"] = int(parsed["answer"])
            except ValueError:
                raise UserError(f"{path}:{line}: field 'answer': {parsed['answer']!r} is not an integer index") from None
        items.append(_item(path, line, parsed, seen))
    return items


def _first_row_is_quality(text: str) -> bool:
    first = next((line for line in text.splitlines() if line.strip()), "")
    try:
        row = json.loads(first)
    except json.JSONDecodeError:
        return False
    return isinstance(row, dict) and looks_like_quality(row)


def load_task_file(path: Path) -> TaskSet:
    """The items of a task file: CSV by its suffix, QuALITY's own format when its first row looks like it, JSON lines
    otherwise; a UserError naming the file and line for anything wrong."""
    try:
        text = path.read_text(encoding="utf-8-sig")  # spreadsheet exports start with a byte-order mark
    except OSError as exc:
        raise UserError(f"{path}: cannot read task file ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: task file is not UTF-8 text") from None
    if path.suffix.lower() != ".csv" and _first_row_is_quality(text):
        return load_quality(path, text)
    items = _read_csv(path, text) if path.suffix.lower() == ".csv" else _read_jsonl(path, text)
    if not items:
        raise UserError(f"{path}: task file has no items")
    return TaskSet(name=path.stem, items=items, source=str(path))


def load_task(name_or_path: str, seed: int = 0) -> TaskSet:
    """A registered task name, or a path to a ``.jsonl``/``.json``/``.csv`` file (QuALITY's format is recognised)."""
    path = Path(name_or_path)
    if path.suffix.lower() in (".jsonl", ".json", ".csv") or path.is_file():
        if not path.exists():
            raise UserError(f"{path}: task file not found")
        return load_task_file(path)
    return TASKS.get(name_or_path)(seed)
