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
sums per score bin: 4,096 equal bins of [0, 1]. Rows in one bin count as tied, as
equal scores do in scikit-learn. Only pairs within one bin can be misordered, and
within a bin 1/4096 wide the calibrated probability hardly changes, so the estimate
moves by far less than its sampling error: about 1e-6 on the tests' data, and at
most about 1e-4 even for a model that puts most rows in the extreme bins (the
expected positives in the lowest bin, and negatives in the highest, are then
nearly nil).
"""

from __future__ import annotations

import math

import numpy as np

# Equal bins of [0, 1] that keep the score ranking.
SCORE_BINS = 4096
_EPSILON = 1e-12


def score_bins(scores: np.ndarray) -> np.ndarray:
    """The ranking bin of each score, 0 (lowest) to ``SCORE_BINS - 1``.

    Args:
        scores: Probabilities in [0, 1].

    Returns:
        Integer bin indices, increasing with the score.
    """
    position = np.multiply(scores, SCORE_BINS)
    np.clip(position, 0, SCORE_BINS - 1, out=position)
    return position.astype(np.intp)


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
        counts = np.bincount(predicted, minlength=k)[:k]
        self.predicted += counts
        if k == 2:
            # One column says it all: p(class 0) = 1 - p(class 1).
            positive = calibrated[:, 1]
            by_prediction = np.bincount(predicted, weights=positive, minlength=2)
            total = float(by_prediction.sum())
            self.positives += (rows - total, total)
            self.true_positives += (counts[0] - by_prediction[0], by_prediction[1])
        else:
            self.positives += calibrated.sum(axis=0)
            own = np.take_along_axis(calibrated, predicted[:, None], axis=1)[:, 0]
            self.true_positives += np.bincount(predicted, weights=own, minlength=k)[:k]
        for slot, column in enumerate(self._ranked):
            bins = score_bins(scores[:, column])
            weight = np.bincount(
                bins, weights=calibrated[:, column], minlength=SCORE_BINS
            )
            self.bin_positives[slot] += weight
            self.bin_negatives[slot] += np.bincount(bins, minlength=SCORE_BINS) - weight

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
        for slot, column in enumerate(self._ranked):
            positive, negative = self.bin_positives[slot], self.bin_negatives[slot]
            total_positive = float(self.positives[column])
            total_negative = self.rows - total_positive
            if total_positive <= _EPSILON or total_negative <= _EPSILON:
                continue
            # Each positive ranks above every negative of a lower bin and ties with
            # half of those in its own.
            below = np.cumsum(negative)
            below -= 0.5 * negative
            values.append(float(positive @ below) / (total_positive * total_negative))
        if not values:
            return None
        value = sum(values) / len(values)
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
