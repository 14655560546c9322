"""Bag-of-words logistic regressions as shortcut judges, scored by grouped cross-validation.

Every (item, choice) pair becomes a bag of tokens: the choice's content words, those of them that also occur in
the question, and the choice's position; the lone-quote judge adds the words of the choice's best supporting
sentence, which is what a consultant defending that choice alone would quote. A logistic regression learns
which pairs hold the correct answer, and each item gets its highest-scoring choice.

The folds come from GroupKFold over the question text, so items sharing a question text always fall in the same
fold: a question seen in training is never scored in testing, and a memorised answer does not pass for a
shortcut a judge could use on a new question.
"""

from __future__ import annotations

from dataclasses import dataclass

from sklearn.feature_extraction import DictVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import make_pipeline

from oversight.audit.shortcuts import best_supporting_sentence, pick_by_score, sentence_words
from oversight.policies.text import content_words
from oversight.tasks import TaskItem

FOLDS = 5
MIN_ITEMS = 10

Bag = dict[str, int]


@dataclass(frozen=True)
class Regression:
    """One regression shortcut judge: its name and what it looks at, as the audit report shows them, and whether it
    reads each choice's best supporting sentence."""

    name: str
    looks_at: str
    #: whether each choice's bag also holds the words of its best supporting sentence
    quotes: bool

    def bag(self, item: TaskItem, index: int) -> Bag:
        """The tokens of one choice of an item: its content words, those it shares with the question, its position (and
        whether it is last) and, for the lone-quote judge, the words of its best supporting sentence."""
        choice = content_words(item.choices[index])
        bag = {f"choice:{word}": 1 for word in choice}
        bag |= {f"shared:{word}": 1 for word in choice & content_words(item.question)}
        bag[f"position:{index}"] = 1
        if index == len(item.choices) - 1:
            bag["position:last"] = 1  # the last choice, whatever the number of choices
        if self.quotes and item.passage:
            sentence = best_supporting_sentence(item.choices[index], item.passage)
            if sentence is not None:
                bag |= {f"quote:{word}": 1 for word in sentence_words(item.passage)[sentence]}
        return bag


REGRESSIONS: tuple[Regression, ...] = (
    Regression("regression: blind", "choice words, overlap, position", quotes=False),
    Regression("regression: lone quote", "the same + its best sentence", quotes=True),
)


def _question_key(item: TaskItem) -> str:
    return " ".join(item.question.lower().split())


def skip_reason(items: list[TaskItem]) -> str | None:
    """Why the regressions cannot be cross-validated on these items, or None when they can."""
    if len(items) < MIN_ITEMS:
        return f"skipped: fewer than {MIN_ITEMS} items"
    if len({_question_key(item) for item in items}) < 2:
        return "skipped: every item asks the same question, so no fold is left to test on"
    return None


def cross_validated_picks(regression: Regression, items: list[TaskItem], seed: int) -> list[int]:
    """Each item's pick by a model trained on the other folds (as many folds as distinct questions, at most 5)."""
    bags = [[regression.bag(item, index) for index in range(len(item.choices))] for item in items]
    groups = [_question_key(item) for item in items]
    picks = [0] * len(items)
    for train, test in GroupKFold(n_splits=min(FOLDS, len(set(groups)))).split(items, groups=groups):
        model = make_pipeline(DictVectorizer(), LogisticRegression(max_iter=1000))
        model.fit(
            [bag for i in train for bag in bags[i]],
            [index == items[i].answer for i in train for index in range(len(bags[i]))],
        )
        scores = iter(model.decision_function([bag for i in test for bag in bags[i]]).tolist())
        for i in test:
            picks[i] = pick_by_score(items[i], [next(scores) for _ in bags[i]], seed)
    return picks
