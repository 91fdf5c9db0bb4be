"""Confidence-based performance estimation (CBPE): a classifier's metrics, no labels.

A calibrated probability is the chance its prediction is right, so the confusion
matrix a chunk would have is known in expectation before any label arrives: a row
predicted as class ``j`` adds its calibrated probability of each class ``i`` to cell
``(i, j)``. From it, per class ``k``,

* expected true positives ``TP_k`` = sum of ``p_k`` over rows predicted ``k``;
* expected false positives = rows predicted ``k`` minus ``TP_k``;
* expected false negatives = sum of ``p_k`` over all rows minus ``TP_k``;

so the expected accuracy is ``sum(TP_k) / rows`` and the expected macro F1 the mean of
``2 TP_k / (predicted_k + expected positives_k)``. The expected ROC AUC ranks rows by
the model's own (uncalibrated) score, as the realized AUC does, and counts each row
as ``p`` of a positive and ``1 - p`` of a negative: the area under the expected ROC
curve. With more than two classes it is the mean one-vs-rest AUC.

Everything is a running sum, so a chunk is tallied batch by batch in constant
memory whatever its size and however its rows arrive. The AUC's ranking is kept as
sums per score bin: 4,096 bins evenly spaced in log-odds between 1e-7 and 1 - 1e-7
(about 0.002 wide at 0.5, much finer towards 0 and 1). Rows in one bin count as
tied, as equal scores do in scikit-learn; since a calibrated probability hardly
changes within a bin, this moves the estimate by far less than its sampling error.
"""

from __future__ import annotations

import math

import numpy as np

# Bins of the score ranking, evenly spaced in log-odds over [-LOGIT_LIMIT, LOGIT_LIMIT].
SCORE_BINS = 4096
LOGIT_LIMIT = 16.0
_EPSILON = 1e-12


def score_bins(scores: np.ndarray) -> np.ndarray:
    """The ranking bin of each score, 0 (lowest) to ``SCORE_BINS - 1``.

    Args:
        scores: Probabilities in [0, 1].

    Returns:
        Integer bin indices, increasing with the score.
    """
    clipped = np.clip(scores, 1e-7, 1.0 - 1e-7)
    logit = np.log(clipped) - np.log1p(-clipped)
    position = (logit + LOGIT_LIMIT) * (SCORE_BINS / (2.0 * LOGIT_LIMIT))
    return np.clip(position.astype(np.intp), 0, SCORE_BINS - 1)


class ExpectedConfusion:
    """Running sums of one chunk's expected confusion matrix and ROC curve.

    Args:
        n_classes: The model's number of classes (at least 2).
    """

    def __init__(self, n_classes: int) -> None:
        self.n_classes = n_classes
        self.rows = 0
        self.true_positives = np.zeros(n_classes)
        self.predicted = np.zeros(n_classes)
        self.positives = np.zeros(n_classes)
        # The AUC is the positive class's with two classes, every class's otherwise.
        ranked = 1 if n_classes == 2 else n_classes
        self._ranked = [1] if n_classes == 2 else list(range(n_classes))
        self.bin_positives = np.zeros((ranked, SCORE_BINS))
        self.bin_negatives = np.zeros((ranked, SCORE_BINS))

    def add(
        self, scores: np.ndarray, calibrated: np.ndarray, predicted: np.ndarray
    ) -> None:
        """Tally a batch of rows.

        Args:
            scores: ``(rows, classes)`` probabilities as the model gave them.
            calibrated: The same, calibrated.
            predicted: The predicted class of each row, as an index.
        """
        rows = len(predicted)
        if not rows:
            return
        self.rows += rows
        k = self.n_classes
        self.predicted += np.bincount(predicted, minlength=k)[:k]
        self.positives += calibrated.sum(axis=0)
        own = calibrated[np.arange(rows), predicted]
        self.true_positives += np.bincount(predicted, weights=own, minlength=k)[:k]
        for slot, column in enumerate(self._ranked):
            bins = score_bins(scores[:, column])
            weight = calibrated[:, column]
            self.bin_positives[slot] += np.bincount(
                bins, weights=weight, minlength=SCORE_BINS
            )
            self.bin_negatives[slot] += np.bincount(
                bins, weights=1.0 - weight, minlength=SCORE_BINS
            )

    def merge(self, other: ExpectedConfusion) -> None:
        """Add another tally of the same model into this one."""
        self.rows += other.rows
        self.true_positives += other.true_positives
        self.predicted += other.predicted
        self.positives += other.positives
        self.bin_positives += other.bin_positives
        self.bin_negatives += other.bin_negatives

    def accuracy(self) -> float | None:
        """Expected share of correct predictions."""
        return float(self.true_positives.sum() / self.rows) if self.rows else None

    def f1_macro(self) -> float | None:
        """Expected F1 of each class (from expected counts), averaged."""
        if not self.rows:
            return None
        denominator = self.predicted + self.positives
        f1 = np.where(
            denominator > _EPSILON,
            2.0 * self.true_positives / np.maximum(denominator, _EPSILON),
            0.0,
        )
        return float(f1.mean())

    def roc_auc(self) -> float | None:
        """Expected ROC AUC; None without an expected positive or negative."""
        values = []
        for positive, negative in zip(
            self.bin_positives, self.bin_negatives, strict=True
        ):
            total_positive, total_negative = positive.sum(), negative.sum()
            if total_positive <= _EPSILON or total_negative <= _EPSILON:
                continue
            # Bins from the highest score down: each negative ranks below every
            # positive of a higher bin and ties with half of those in its own.
            above = np.cumsum(positive[::-1]) - positive[::-1]
            pairs = np.sum(negative[::-1] * (above + 0.5 * positive[::-1]))
            values.append(pairs / (total_positive * total_negative))
        if not values:
            return None
        value = float(np.mean(values))
        return value if math.isfinite(value) else None

    def estimates(self) -> dict[str, float | None]:
        """Expected accuracy, macro F1 and ROC AUC."""
        return {
            "accuracy": self.accuracy(),
            "f1_macro": self.f1_macro(),
            "roc_auc": self.roc_auc(),
        }


def estimate_performance(
    scores: np.ndarray, calibrated: np.ndarray, predicted: np.ndarray
) -> dict[str, float | None]:
    """Expected accuracy, macro F1 and ROC AUC of rows held in memory.

    Args:
        scores: ``(rows, classes)`` probabilities as the model gave them.
        calibrated: The same, calibrated (:class:`~.calibrator.Calibrator`).
        predicted: The predicted class of each row, as an index.

    Returns:
        The estimates (None when undefined).
    """
    tally = ExpectedConfusion(scores.shape[1])
    tally.add(
        np.asarray(scores, dtype=np.float64),
        np.asarray(calibrated, dtype=np.float64),
        np.asarray(predicted, dtype=np.intp),
    )
    return tally.estimates()
