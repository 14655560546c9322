"""Scores for probabilistic verdicts: expected calibration error, Brier score, log score."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: probabilities are clipped here before taking logs, so one confident mistake does not make the score infinite
LOG_FLOOR = 1e-6


def expected_calibration_error(confidences: Sequence[float], correct: Sequence[bool], bins: int = 10) -> float | None:
    """Mean |accuracy − confidence| over equal-width confidence bins, weighted by how many verdicts fall in each."""
    if not confidences:
        return None
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


def brier_score(probabilities: Sequence[Sequence[float]], answers: Sequence[int]) -> float | None:
    """Mean squared distance between the probability vector and the one-hot answer (0 is perfect, 2 is worst)."""
    if not probabilities:
        return None
    p = np.asarray(probabilities, dtype=float)
    truth = np.zeros_like(p)
    truth[np.arange(len(answers)), answers] = 1.0
    return float(((p - truth) ** 2).sum(axis=1).mean())


def log_score(probabilities: Sequence[Sequence[float]], answers: Sequence[int]) -> float | None:
    """Mean natural log of the probability given to the right answer (0 is perfect; higher is better)."""
    if not probabilities:
        return None
    p = np.asarray(probabilities, dtype=float)
    return float(np.log(np.clip(p[np.arange(len(answers)), answers], LOG_FLOOR, 1.0)).mean())
