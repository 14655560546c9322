"""Training data out of the debate family's games (``oversight export``): chat rows of any role's turns, and
preference pairs between the debaters' arguments of one round.

Prompts are rebuilt from the record in the engine's neutral layout (:func:`oversight.export.chat_prompt`), with
what the role could see when it spoke, and nothing more:

- a **speaker** (debater or consultant) arguing: the question, the choices, the passage (speakers read it; as
  numbered words with ``quote_spans``), the transcript it had seen — in sequential turns every argument and judge's
  question before its own, in simultaneous turns those of earlier rounds — and the answer it argues for;
- a speaker **choosing** its answer (open protocols): the question, the choices and the passage;
- the **judge**: the question, the choices, the passage only in ``expert``, and every argument and question before
  its turn (none in ``blind``).

Earlier turns appear as their listeners saw them (quotes marked verified or unverified); the reply is the turn as
its model wrote it. Speakers are named as the game named them (``Debater A``, ``Consultant``).

**Preference pairs** (``dpo``) come from judged games with at least two debaters and a valid verdict: in every
round, the argument of the debater whose answer the judge picked (chosen) against each other debater's argument
of that round (rejected). Both replies answer one prompt, so it holds only what every debater knew when the round
began — the transcript of earlier rounds — and names neither debater's answer (each argument states its own). A
round in which no debater defended the judge's pick gives no pair; consultancy (one speaker) and the baselines
give none.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from oversight.export import assistant, chat_prompt
from oversight.protocol import ExportUnsupported
from oversight.quotes import numbered_passage
from oversight.records import GameRecord, Turn
from oversight.verdicts import choice_labels

SPEAKER_KINDS = ("argument", "choice")
JUDGE_KINDS = ("verdict", "question")
#: kinds of turns a listener is shown
SHOWN_KINDS = ("argument", "question")


@dataclass(frozen=True)
class Visibility:
    """What the protocol's rules let each role see, as the export needs it."""

    protocol: str
    #: how many speakers argue (0 in the baselines, 1 in consultancy)
    speakers: int
    judge_sees_passage: bool
    #: speakers of a round write at the same time, without seeing each other's argument of that round
    simultaneous: bool
    #: speakers read the passage as numbered words (``quote_spans``)
    numbered: bool


def sft_rows(
    records: Iterable[GameRecord], view: Visibility, *, role: str | None, keep: str, passages: Mapping[str, str]
) -> Iterator[dict[str, Any]]:
    """Chat rows of the turns of ``role`` (every role when None) that ``keep`` selects; refuses at once (before the
    first row) a filter the protocol cannot apply."""
    if keep in ("winner", "loser"):
        if role == "judge":
            raise ExportUnsupported(f"the judge takes no side: --keep {keep} selects speakers' turns")
        if not view.speakers:
            raise ExportUnsupported(f"{view.protocol} has no speakers, so no {keep}")
    return (row for record in records for row in _record_rows(record, view, role, keep, passages))


def preference_pairs(
    records: Iterable[GameRecord], view: Visibility, *, keep: str, passages: Mapping[str, str]
) -> Iterator[dict[str, Any]]:
    """The preferred debater's argument against each other debater's, round by round (see the module's docstring);
    refuses at once a protocol with fewer than two speakers."""
    if view.speakers < 2:
        who = "one speaker" if view.speakers == 1 else "no speakers"
        raise ExportUnsupported(f"{view.protocol} has {who}: no two arguments of a round to compare")
    return (pair for record in records for pair in _record_pairs(record, view, keep, passages))


# -- one game --------------------------------------------------------------------------------------------------
def _kind(turn: Turn) -> str:
    return str(turn.meta.get("kind", "argument"))


def _defends(turn: Turn, record: GameRecord) -> int | None:
    """The answer a speaker's turn stands for: the one it argues, or the one it chose."""
    if _kind(turn) == "choice":
        chose = turn.meta.get("chose")
        return chose if isinstance(chose, int) else None
    defends = turn.meta.get("defends")
    return defends if isinstance(defends, int) else record.seating.get(turn.seat or "consultant")


def _rounds(record: GameRecord) -> int:
    return max((t.round or 0 for t in record.turns if _kind(t) == "argument"), default=0)


def _line(turn: Turn, labels: list[str]) -> str:
    """A shown turn as one transcript line, as the game's own transcript writes it."""
    content = turn.meta.get("shown", turn.content)
    if _kind(turn) == "question":
        return f"Judge (after round {turn.round}) asks: {content}"
    speaker = turn.meta.get("speaker", turn.role)
    defends = turn.meta.get("defends")
    side = f", arguing for {labels[defends]}" if isinstance(defends, int) and defends < len(labels) else ""
    return f"{speaker} (round {turn.round}{side}): {content}"


def _transcript(record: GameRecord, before: int) -> list[str]:
    """The shown turns among the first ``before`` turns of the record, as transcript lines."""
    labels = choice_labels(len(record.choices))
    return [_line(t, labels) for t in record.turns[:before] if _kind(t) in SHOWN_KINDS]


def _round_start(record: GameRecord, round_number: int | None) -> int:
    """Where a round's first argument stands in the record's turns."""
    return next(
        (i for i, t in enumerate(record.turns) if _kind(t) == "argument" and t.round == round_number), len(record.turns)
    )


def _speaker_passage(record: GameRecord, view: Visibility, passages: Mapping[str, str]) -> str | None:
    passage = passages.get(record.item_id)
    return numbered_passage(passage) if passage is not None and view.numbered else passage


def _who(turn: Turn) -> str:
    speaker = str(turn.meta.get("speaker") or turn.role)
    return "the consultant" if turn.role == "consultant" else speaker


def _prompt(
    record: GameRecord, index: int, view: Visibility, passages: Mapping[str, str]
) -> list[dict[str, str]]:
    """The prompt of the record's turn ``index``, rebuilt from what its role could see."""
    turn = record.turns[index]
    kind = _kind(turn)
    labels = choice_labels(len(record.choices))
    if kind in SPEAKER_KINDS:
        system = f"You are {_who(turn)} in a game of {view.protocol}. You have read the passage; the judge has not."
        passage = _speaker_passage(record, view, passages)
        if kind == "choice":
            return chat_prompt(system, record.question, choices=record.choices, passage=passage,
                               instruction="Choose the answer you will argue for.")
        defends = _defends(turn, record)
        before = _round_start(record, turn.round) if view.simultaneous else index
        argued = f"You argue for {labels[defends]}: {record.choices[defends]}. " if defends is not None else ""
        return chat_prompt(
            system, record.question, choices=record.choices, passage=passage, transcript=_transcript(record, before),
            instruction=f"{argued}Round {turn.round} of {_rounds(record)}: write your argument.",
        )
    sees = "You have read the passage." if view.judge_sees_passage else "You have not read the passage."
    system = f"You are the judge of a game of {view.protocol}. {sees}"
    passage = passages.get(record.item_id) if view.judge_sees_passage else None
    if kind == "question":
        instruction = f"Round {turn.round} of {_rounds(record)} is over: ask a question."
    else:
        instruction = "Give your verdict: which answer is correct?"
    return chat_prompt(system, record.question, choices=record.choices, passage=passage,
                       transcript=_transcript(record, index), instruction=instruction)


def _outcome(turn: Turn, record: GameRecord) -> tuple[bool | None, bool | None]:
    """(won, correct) of a turn: a speaker won when the judge picked its answer and is correct when that answer is
    the right one; the judge's turns never win and are correct when its verdict was."""
    if _kind(turn) in SPEAKER_KINDS:
        defends = _defends(turn, record)
        picked = record.verdict.choice if record.verdict else None
        won = None if picked is None or defends is None else defends == picked
        return won, defends is not None and defends == record.answer
    return None, record.correct


def _kept(keep: str, won: bool | None, correct: bool | None) -> bool:
    return {"winner": won is True, "loser": won is False, "correct": correct is True}.get(keep, True)


def _record_rows(
    record: GameRecord, view: Visibility, role: str | None, keep: str, passages: Mapping[str, str]
) -> Iterator[dict[str, Any]]:
    for index, turn in enumerate(record.turns):
        if (role is not None and turn.role != role) or _kind(turn) not in (*SPEAKER_KINDS, *JUDGE_KINDS):
            continue
        won, correct = _outcome(turn, record)
        if not _kept(keep, won, correct):
            continue
        yield {
            "messages": [*_prompt(record, index, view, passages), assistant(turn.content)],
            "protocol": record.protocol,
            "game_id": record.game_id,
            "item_id": record.item_id,
            "role": turn.role,
            "kind": _kind(turn),
            "round": turn.round,
            "won": won,
            "correct": correct,
            "model": record.roles.get(turn.role),
            "player": record.players.get(turn.role),
        }


def _record_pairs(
    record: GameRecord, view: Visibility, keep: str, passages: Mapping[str, str]
) -> Iterator[dict[str, Any]]:
    picked = record.verdict.choice if record.verdict else None
    if picked is None or (keep == "correct" and picked != record.answer):
        return
    labels = choice_labels(len(record.choices))
    by_round: dict[int, list[Turn]] = {}
    for turn in record.turns:
        if _kind(turn) == "argument" and turn.round is not None:
            by_round.setdefault(turn.round, []).append(turn)
    rounds = _rounds(record)
    for round_number, turns in sorted(by_round.items()):
        winners = [t for t in turns if _defends(t, record) == picked]
        losers = [t for t in turns if _defends(t, record) != picked]
        if not winners or not losers:
            continue
        system = f"You are a debater in a game of {view.protocol}. You have read the passage; the judge has not."
        prompt = chat_prompt(
            system, record.question, choices=record.choices, passage=_speaker_passage(record, view, passages),
            transcript=_transcript(record, _round_start(record, round_number)),
            instruction=f"Round {round_number} of {rounds}: write your argument.",
        )
        for chosen in winners:
            for rejected in losers:
                chosen_for, rejected_for = _defends(chosen, record), _defends(rejected, record)
                yield {
                    "prompt": prompt,
                    "chosen": [assistant(chosen.content)],
                    "rejected": [assistant(rejected.content)],
                    "protocol": record.protocol,
                    "game_id": record.game_id,
                    "item_id": record.item_id,
                    "round": round_number,
                    "correct": picked == record.answer,
                    "chosen_role": chosen.role,
                    "rejected_role": rejected.role,
                    "chosen_answer": labels[chosen_for] if chosen_for is not None else None,
                    "rejected_answer": labels[rejected_for] if rejected_for is not None else None,
                    "chosen_model": record.roles.get(chosen.role),
                    "rejected_model": record.roles.get(rejected.role),
                    "chosen_player": record.players.get(chosen.role),
                    "rejected_player": record.players.get(rejected.role),
                }
