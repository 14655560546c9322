"""QuALITY (Pang et al. 2022) JSONL: long articles, each with several four-option questions.

As in Khan et al. 2024, each question becomes a two-choice item: the gold answer and the distractor that the
untimed validators most often named as the best one (the first other option when none was named). The article
is the hidden passage; the difficulty fields ride along in ``meta``. Questions without a gold label (the test
split) are skipped, counted in the task set's ``skipped`` and reported in one warning.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from pathlib import Path
from typing import Any

from oversight.errors import UserError
from oversight.tasks.items import TaskItem, TaskSet, json_objects

log = logging.getLogger(__name__)


def looks_like_quality(row: dict[str, Any]) -> bool:
    """Whether a JSON object is a QuALITY article: it has an ``article`` and its ``questions``."""
    return "article" in row and "questions" in row


def _best_distractor(question: dict[str, Any], gold: int) -> int:
    named = Counter(
        v.get("untimed_best_distractor") for v in question.get("validation", []) if v.get("untimed_best_distractor")
    )
    for label, _ in named.most_common():
        if isinstance(label, int) and label - 1 != gold and 0 < label <= len(question["options"]):
            return label - 1
    return next(i for i in range(len(question["options"])) if i != gold)


def _item(path: Path, line: int, article: dict[str, Any], index: int, question: dict[str, Any]) -> TaskItem | None:
    gold_label = question.get("gold_label")
    if gold_label is None:
        return None
    options = question.get("options")
    if not isinstance(options, list) or not isinstance(gold_label, int) or not 0 < gold_label <= len(options):
        count = f"from 1 to {len(options)}" if isinstance(options, list) else "numbering one of them from 1"
        raise UserError(f"{path}:{line}: question {index + 1}: needs 'options' and a 'gold_label' {count}")
    gold = gold_label - 1
    distractor = _best_distractor(question, gold)
    item_id = str(question.get("question_unique_id") or f"{article.get('article_id', line)}-{index}")
    # which of the two is listed first is fixed by the id, so the gold answer is not always choice A
    gold_first = hashlib.sha256(item_id.encode()).digest()[0] % 2 == 0
    pair = [gold, distractor] if gold_first else [distractor, gold]
    speed = question.get("speed_validation") or []
    return TaskItem(
        id=item_id,
        question=str(question.get("question", "")).strip(),
        choices=[str(options[i]) for i in pair],
        answer=0 if gold_first else 1,
        passage=str(article["article"]),
        meta={
            "title": article.get("title"),
            "article_id": article.get("article_id"),
            "difficult": question.get("difficult"),
            "speed_accuracy": (
                sum(v.get("speed_answer") == gold_label for v in speed) / len(speed) if speed else None
            ),
            "untimed_accuracy": (
                sum(v.get("untimed_answer") == gold_label for v in question.get("validation", []))
                / len(question["validation"])
                if question.get("validation")
                else None
            ),
        },
    )


def load_quality(path: Path, text: str) -> TaskSet:
    """Every labelled question of a QuALITY file as a two-choice item (gold answer against best distractor), the
    order of the two fixed by the item's id."""
    items: list[TaskItem] = []
    unlabelled = 0
    for line, article in json_objects(path, text):
        if not looks_like_quality(article):
            raise UserError(f"{path}:{line}: not a QuALITY article (needs 'article' and 'questions')")
        for index, question in enumerate(article["questions"]):
            if (item := _item(path, line, article, index, question)) is not None:
                items.append(item)
            else:
                unlabelled += 1
    if not items:
        raise UserError(f"{path}: no QuALITY questions with a gold label (is this the test split?)")
    if unlabelled:
        plural = "s" if unlabelled > 1 else ""
        log.warning("%s: skipped %d question%s without a gold label (test split?)", path, unlabelled, plural)
    return TaskSet(
        name=path.stem,
        items=items,
        source=str(path),
        description="QuALITY, gold vs best distractor",
        skipped={"no gold label": unlabelled} if unlabelled else {},
    )
