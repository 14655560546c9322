"""``oversight show RUN GAME_ID`` for an ``ida`` game: the decomposition tree, indented, with answers and budgets.

Each node shows its question (shortened), its answer — green ✓ / red ✗ when the exact answer is known, with
the exact answer after a wrong one — and how it was reached: decomposed, answered by the decomposer, forced to
answer directly (and why), or taken from the memo; then its budget, what its subtree spent, and its own calls
and tokens. Model text is shown as plain text, never as markup.
"""

from __future__ import annotations

from typing import Any

from rich.console import RenderableType
from rich.text import Text
from rich.tree import Tree

from oversight.records import GameRecord

QUESTION_WIDTH = 110


def _short(text: str, width: int = QUESTION_WIDTH) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _how(node: dict[str, Any]) -> str:
    mode = node.get("mode") or "?"
    if mode == "forced":
        return f"forced ({node.get('reason')})"
    if mode == "memo":
        source = node.get("memo_of") or {}
        where = f"node {source.get('node')}" + (f" of game {source['game'][:8]}" if source.get("game") else "")
        return f"memo ({node.get('memo')}: {where})"
    if mode == "decomposed":
        return f"decomposed into {len(node.get('children') or [])}"
    return mode


def node_label(node: dict[str, Any]) -> Text:
    label = Text()
    label.append(f"[{node['id']}] ", style="bold")
    label.append(_short(node.get("question", "")))
    label.append("\n→ ")
    answer = node.get("answer")
    correct = node.get("correct")
    style = "green" if correct else ("red" if correct is False else "")
    label.append(_short(answer if answer is not None else "(no answer)", 80), style=style)
    if correct is not None:
        label.append(" ✓" if correct else " ✗", style=style)
    if correct is False and node.get("exact") is not None:
        label.append(f" (exact: {_short(node['exact'], 60)})", style="dim")
    tokens = node.get("tokens") or {}
    spent = f" · spent {node['spent']}" if node.get("mode") == "decomposed" else ""
    label.append(
        f"\n  {_how(node)} · budget {node.get('budget')}{spent} · calls {node.get('calls', 0)} · "
        f"tokens {tokens.get('prompt', 0) + tokens.get('completion', 0)}",
        style="dim",
    )
    if node.get("malformed"):
        label.append(f" · unreadable replies {node['malformed']}", style="yellow")
    for note in node.get("notes") or []:
        label.append(f"\n  note: {note}", style="yellow")
    return label


def render(record: GameRecord) -> list[RenderableType]:
    meta = record.meta
    nodes = meta.get("tree") or []
    header = Text()
    header.append(f"{meta.get('mode', '?')} · iteration {meta.get('iteration', record.phase + 1)}", style="bold")
    if meta.get("difficulty") is not None:
        header.append(f" · difficulty {meta['difficulty']}")
    header.append(f" · {meta.get('calls', len(record.calls))} calls · {meta.get('tokens', 0)} tokens")
    if not nodes:
        return [header, Text("no tree recorded")]
    children: dict[str | None, list[dict[str, Any]]] = {}
    for node in nodes:
        children.setdefault(node.get("parent"), []).append(node)
    roots = children.get(None, [])
    rendered: list[RenderableType] = [header]
    for root in roots:
        tree = Tree(node_label(root), guide_style="dim")
        stack = [(root, tree)]
        while stack:
            node, branch = stack.pop()
            for child in children.get(node["id"], []):
                stack.append((child, branch.add(node_label(child))))
        rendered.append(tree)
    if meta.get("examples"):
        count = len(meta["examples"])
        rendered.append(Text(f"in-context examples: {count} distilled pairs from earlier iterations", style="dim"))
    outcome = Text("answer: ")
    style = "green" if record.correct else "red"
    outcome.append(str(meta.get("answer", "")), style=style)
    outcome.append(f"   expected: {meta.get('expected', record.answer)}   ")
    outcome.append("correct" if record.correct else "incorrect", style=style)
    rendered.append(outcome)
    return rendered
