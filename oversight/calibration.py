"""Scores for probabilistic verdicts: expected calibration error, Brier score, log score.

ECE bins the probability a judge gave to the answer it *chose* against whether that answer was correct; the
Brier and log scores use the probability it gave to the *correct* answer. So "Answer: A, Confidence: 30%" is a
30% forecast that A is right, wherever the rest of the mass went.
"""

from __future__ import annotations

from collections.abc import Sequence

#: probabilities are clipped here before taking logs, so one confident mistake does not make the score infinite
LOG_FLOOR = 1e-6


def expected_calibration_error(confidences: Sequence[float], correct: Sequence[bool], bins: int = 10) -> float | None:
    """Mean |accuracy − confidence| over equal-width confidence bins, weighted by how many verdicts fall in each."""
    if not confidences:
        return None
    # numpy is imported where it is used: commands that only list the protocols import this module too
    import numpy as np

    conf = np.asarray(confidences, dtype=float)
    hits = np.asarray(correct, dtype=float)
    # bin i holds (i/bins, (i+1)/bins]; a confidence of exactly 0 joins the first bin
    index = np.clip(np.ceil(conf * bins).astype(int) - 1, 0, bins - 1)
    error = 0.0
    for b in range(bins):
        members = index == b
        if members.any():
            error += members.sum() * abs(hits[members].mean() - conf[members].mean())
    return float(error / len(conf))


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
