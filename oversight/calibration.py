"""Scores for probabilistic verdicts: expected calibration error, Brier score, log score.

ECE bins the probability a judge gave to the answer it *chose* against whether that answer was correct; the
Brier and log scores use the probability it gave to the *correct* answer. So "Answer: A, Confidence: 30%" is a
30% forecast that A is right, wherever the rest of the mass went.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

#: probabilities are clipped here before taking logs, so one confident mistake does not make the score infinite
LOG_FLOOR = 1e-6


def bin_of(confidence: float, bins: int = 10) -> int:
    """The equal-width bin a confidence falls in: bin i holds (i/bins, (i+1)/bins]; exactly 0 joins the first."""
    return min(max(math.ceil(confidence * bins) - 1, 0), bins - 1)


def binned_calibration_error(cells: Iterable[tuple[int, float, float]]) -> float | None:
    """Expected calibration error from per-bin sums (verdicts, summed confidence, correct verdicts):
    Σ |correct − confidence| / verdicts, which is the bins' |accuracy − confidence| weighted by their size."""
    verdicts = error = 0.0
    for count, confidence, correct in cells:
        verdicts += count
        error += abs(correct - confidence)
    return error / verdicts if verdicts else None


def expected_calibration_error(confidences: Sequence[float], correct: Sequence[bool], bins: int = 10) -> float | None:
    """Mean |accuracy − confidence| over equal-width confidence bins, weighted by how many verdicts fall in each."""
    cells = [[0, 0.0, 0.0] for _ in range(bins)]
    for confidence, hit in zip(confidences, correct, strict=True):
        cell = cells[bin_of(confidence, bins)]
        cell[0] += 1
        cell[1] += confidence
        cell[2] += hit
    return binned_calibration_error((int(n), c, k) for n, c, k in cells)


def brier_score(correct_probabilities: Sequence[float]) -> float | None:
    """Mean of (1 − p)², p being the probability the judge gave the correct answer (0 is perfect, 1 is worst)."""
    if not correct_probabilities:
        return None
    import numpy as np  # here, not at the top: see expected_calibration_error

    p = np.asarray(correct_probabilities, dtype=float)
    return float(((1.0 - p) ** 2).mean())


def log_score(correct_probabilities: Sequence[float]) -> float | None:
    """Mean natural log of the probability given to the correct answer (0 is perfect; higher is better)."""
    if not correct_probabilities:
        return None
    import numpy as np  # here, not at the top: see expected_calibration_error

    p = np.asarray(correct_probabilities, dtype=float)
    return float(np.log(np.clip(p, LOG_FLOOR, 1.0)).mean())
