"""Reading builder, breaker, judge and reporter replies: untrusted text in, record fields out, never an exception.

Replies are asked for as ``LABEL: text`` lines. Labels may be bold, bulleted, any case, with ``:`` or ``-``;
text runs until the next label. A reply with no labels at all is still read (as the main field), and what is
missing is recorded, so a small model's sloppy format costs it the point, not the game.
"""

from __future__ import annotations

import json
import re
from typing import Any

from oversight.protocols.elk.recipes import parse_recipe
from oversight.protocols.elk.records import Counterexample, Proposal
from oversight.protocols.elk.reporters import RULES
from oversight.protocols.elk.world import World, canonical_action

_LABELS = {
    "strategy": r"strategy|proposal",
    "why": r"why|reason(?:ing)?|because",
    "reporter": r"reporter",
    "recipe": r"recipe",
    "family": r"family",
    "counterexample": r"counter[\s_-]*example",
    "bad_reporter": r"bad[\s_-]*reporter",
    "actions": r"actions?|episode",
    "ruling": r"ruling|verdict",
    "reason": r"reason|because|why",
}
_FENCE = re.compile(r"```[a-zA-Z]*\s*\n?(.*?)```", re.DOTALL)
_CONCEDE = re.compile(
    r"\bno\s+(?:valid\s+)?counter[\s_-]*example|\bcannot\s+(?:find|give|construct)\s+(?:a|any)\s+counter[\s_-]*example",
    re.IGNORECASE,
)
_SPLIT = re.compile(r"\s*(?:,|;|->|→|=>|\n|\|)\s*")


def fields(text: str, names: tuple[str, ...]) -> dict[str, str]:
    """``LABEL: value`` fields of a reply, by name; a value runs until the next label line."""
    alternatives = "|".join(f"(?P<{name}>{_LABELS[name]})" for name in names)
    # no newline in the prefix class: blank lines would make every label search quadratic
    label = re.compile(rf"^[ \t>*#_\-\d.]*(?:{alternatives})[\s*_]*[:\-–][\s*_]*", re.IGNORECASE | re.MULTILINE)
    found: dict[str, str] = {}
    matches = list(label.finditer(text))
    for i, match in enumerate(matches):
        name = next(n for n in names if match.group(n) is not None)
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        found.setdefault(name, text[match.end() : end].strip().strip("*_").strip())
    return found


def _without_fences(text: str) -> str:
    return _FENCE.sub("", text).strip()


def _reporter(value: str) -> tuple[str | None, str | None, str | None]:
    """(reporter, prompt, error) from a ``REPORTER:`` value."""
    value = value.strip().strip("`'\"").strip()
    name = re.sub(r"[\s_]+", "-", value.lower()).strip(".")
    if name in ("", "none", "n/a", "na", "no", "-"):
        return None, None, None
    if name in RULES:
        return name, None, None
    if value.lower().startswith("prompt:"):
        value = value[len("prompt:") :].strip()
    elif re.fullmatch(r"[a-z]+(?:-[a-z]+)+", name):
        return None, None, f"unknown reporter rule {value!r} (known: {', '.join(RULES)})"
    return ("prompt", value, None) if value else (None, None, None)


def parse_proposal(text: str, world: World | None = None) -> Proposal:
    """A builder's reply read into a proposal: its STRATEGY, WHY, RECIPE and REPORTER fields (a reply without labels
    is all strategy); a recipe or reporter that cannot be used is recorded as an error."""
    found = fields(text, ("strategy", "why", "recipe", "reporter"))
    strategy = found.get("strategy") or (text.strip() if not found else "")
    reporter, prompt, error = _reporter(found.get("reporter", ""))
    recipe, recipe_error = parse_recipe(found["recipe"], world) if found.get("recipe") else (None, None)
    return Proposal(
        text=text, strategy=strategy, why=found.get("why", ""), recipe=recipe.text if recipe else None,
        recipe_error=recipe_error, reporter=reporter, reporter_prompt=prompt, reporter_error=error,
    )


def _names(items: list[Any]) -> list[str] | None:
    names = []
    for item in items:
        if isinstance(item, dict):
            item = item.get("action") or item.get("name")
        if not isinstance(item, str):
            return None
        names.append(canonical_action(item))
    return [n for n in names if n]


def parse_actions(text: str, label: str = "actions") -> tuple[list[str] | None, str | None]:
    """The attached episode, from a JSON list (fenced or after ``ACTIONS:``) or ``ACTIONS: a, b, c`` (``label``
    names another field, such as ``family``).

    (None, None) when none is attached; (None, error) when one is attached but is not a list of names.
    """
    candidates = [block.strip() for block in _FENCE.findall(text)]
    value = fields(text, (label,)).get(label)
    if value is not None:
        candidates.append(_without_fences(value) or "")
    for candidate in candidates:
        if candidate.startswith("["):
            try:
                parsed = json.loads(candidate[: candidate.rindex("]") + 1])
            except (json.JSONDecodeError, ValueError, RecursionError):  # RecursionError: brackets nested deep
                continue
            names = _names(parsed) if isinstance(parsed, list) else None
            if names is None:
                return None, f"{label}: expected a list of action names"
            return names or None, None
    if not value or canonical_action(value) in ("none", "n/a", ""):
        return None, None
    chunks = [c for c in _SPLIT.split(value.strip("[]")) if c.strip()]
    if len(chunks) == 1:
        chunks = chunks[0].split()
    names = [canonical_action(re.sub(r"^\s*(?:\d+[.)]|[-*•])\s*", "", c)) for c in chunks]
    return [n for n in names if n] or None, None


def parse_counterexample(text: str) -> Counterexample:
    """A breaker's reply read into a counterexample: its COUNTEREXAMPLE and BAD REPORTER fields and any attached
    episode (``ACTIONS:``) or family (``FAMILY:``, read first), or a concession when it says there is no
    counterexample and names no bad reporter."""
    found = fields(text, ("counterexample", "bad_reporter", "actions", "family"))
    story = found.get("counterexample") or (_without_fences(text) if not found else "")
    conceded = bool(_CONCEDE.search(text)) and not found.get("bad_reporter")
    is_family = not conceded and "family" in found
    actions, error = (None, None) if conceded else parse_actions(text, "family" if is_family else "actions")
    return Counterexample(
        text=text,
        story="" if conceded else _without_fences(story),
        bad_reporter="" if conceded else _without_fences(found.get("bad_reporter", "")),
        actions=actions,
        actions_error=error,
        family=is_family and actions is not None,
        conceded=conceded,
    )


def parse_ruling(text: str) -> tuple[bool | None, str]:
    """(valid?, reason); valid is None when the reply says neither valid nor invalid."""
    found = fields(text, ("ruling", "reason"))
    where = found.get("ruling", text)
    match = re.search(r"\b(invalid|not\s+valid|valid)\b", where, re.IGNORECASE)
    valid = None if match is None else match.group(1).lower() == "valid"
    reason = found.get("reason") or (text.strip() if "ruling" not in found else "")
    return valid, reason


def parse_yes_no(text: str) -> bool | None:
    """A reporter's answer: the first "yes" or "no" the reply says, None when it says neither."""
    match = re.search(r"\b(yes|no)\b", text, re.IGNORECASE)
    return None if match is None else match.group(1).lower() == "yes"
