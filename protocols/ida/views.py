"""An ``ida`` game's decomposition tree, for ``oversight show RUN GAME_ID`` and for ``oversight report``.

In the terminal each node shows its question (shortened), its answer — green ✓ / red ✗ when the exact answer is
known, with the exact answer after a wrong one — and how it was reached: decomposed, answered by the decomposer,
forced to answer directly (and why), handed to the answerer by the decomposer (``delegated``), or taken from the
memo; then its budget, what its subtree spent, and its own calls and tokens. The header says when the item is held
out of distillation. Model text is shown as plain text, never as markup. In the report (:func:`tree_view`) each
sub-question is nested inside its parent, with the node's other fields as JSON.
"""

from __future__ import annotations

from typing import Any

from rich.console import RenderableType
from rich.text import Text
from rich.tree import Tree

from oversight.records import GameRecord
from oversight.views import ReportView, ViewNode

QUESTION_WIDTH = 110
#: node fields the report's tree shows by position and text ("children" is the nesting itself)
_TREE_SHOWN = {"id", "parent", "children", "question", "answer", "correct"}


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
    if mode == "delegated":
        return "delegated to the answerer"
    return mode


def node_label(node: dict[str, Any]) -> Text:
    """A recorded node's line in the terminal tree: its shortened question, its answer marked right or wrong, then
    how it was reached, its budget, calls, tokens and notes."""
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
    """The game in the terminal: a header with its mode, iteration and cost, the decomposition tree, then the
    final answer against the expected one."""
    meta = record.meta
    nodes = meta.get("tree") or []
    header = Text()
    header.append(f"{meta.get('mode', '?')} · iteration {meta.get('iteration', record.phase + 1)}", style="bold")
    if meta.get("difficulty") is not None:
        header.append(f" · difficulty {meta['difficulty']}")
    if meta.get("held_out"):
        header.append(" · held out of distillation")
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


def _view_node(node: dict[str, Any]) -> ViewNode:
    answer = node.get("answer")
    return ViewNode(
        text=str(node.get("question", "")),
        value="(no answer)" if answer in (None, "") else str(answer),
        correct=node["correct"] if isinstance(node.get("correct"), bool) else None,
        details={k: v for k, v in node.items() if k not in _TREE_SHOWN and v not in (None, [], {}, "")},
    )


def tree_view(record: GameRecord) -> ReportView | None:
    """``meta.tree`` as nested nodes: a list of dicts with a unique ``id``, ``parent`` (None at a root),
    ``question``, ``answer`` and optionally ``correct``; None for anything else, which the report shows as JSON."""
    nodes = record.meta.get("tree")
    if not isinstance(nodes, list) or not all(isinstance(n, dict) for n in nodes):
        return None
    ids = [str(n.get("id")) for n in nodes]
    if any(n.get("id") is None for n in nodes) or len(set(ids)) != len(ids):
        return None
    built = {i: _view_node(n) for i, n in zip(ids, nodes, strict=True)}
    roots: list[ViewNode] = []
    for i, n in zip(ids, nodes, strict=True):
        parent = n.get("parent")
        siblings = built[str(parent)].children if parent is not None and str(parent) in built else roots
        siblings.append(built[i])
    return ReportView(title="Tree", tree=roots, shown_meta=frozenset({"tree"}))
