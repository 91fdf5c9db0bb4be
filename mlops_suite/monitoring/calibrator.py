"""Calibrated class probabilities for performance estimation, stored as plain JSON.

Confidence-based performance estimation (:mod:`.estimation`) reads a classifier's
probabilities as the chance each prediction is right, so they must be calibrated: of
the rows given 0.8, about 80 % must belong to the class. A :class:`Calibrator` maps
the model's own probabilities to calibrated ones. It is fitted on held-out rows the
model never saw (the test split), one scikit-learn ``IsotonicRegression`` per class
(one-vs-rest; with two classes, one on the positive class), the calibrator
``CalibratedClassifierCV(method="isotonic")`` itself fits; multiclass rows are then
renormalised to sum to 1, as scikit-learn does.

Why not ``CalibratedClassifierCV(cv="prefit")`` on the fitted Pipeline: it calibrates
the estimator's ``decision_function`` when it has one (logistic regression does),
while monitoring only sees what was served and logged, the ``proba_<class>``
columns; and it would be one more pickle next to ``model.joblib``, which KServe's
stock runtime refuses. An isotonic map is just its breakpoints, so it is stored as
JSON (``calibration.json``) and applied with ``numpy.interp``, which gives exactly
what ``IsotonicRegression.predict`` gives (clipped at both ends).

Isotonic regression can overfit a small held-out set, so it is kept only when it
helps: the held-out rows are cut into stratified folds, each fold is calibrated by a
map fitted on the others, and the isotonic maps are used only when their Brier
score on the unseen folds beats the raw probabilities'. Otherwise the calibrator is
the identity (``method`` ``identity``), which NannyML also falls back to.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.model_selection import StratifiedKFold

from mlops_suite.errors import DataError

ISOTONIC = "isotonic"
IDENTITY = "identity"
METHODS = (ISOTONIC, IDENTITY)
FORMAT_VERSION = 1
# Folds of the held-out rows used to decide whether calibration helps.
CALIBRATION_FOLDS = 5


@dataclass(frozen=True)
class Calibrator:
    """Maps a classifier's probabilities to calibrated ones.

    Attributes:
        classes: The model's classes, in the order of its probability columns.
        method: ``isotonic`` or ``identity``.
        maps: One ``(x, y)`` pair of increasing breakpoints per calibrated column:
            the positive class's alone with two classes, every class's otherwise;
            empty for ``identity``.
        rows: Held-out rows it was fitted on.
    """

    classes: tuple[Any, ...]
    method: str
    maps: tuple[tuple[np.ndarray, np.ndarray], ...] = ()
    rows: int = 0

    def calibrate(self, proba: np.ndarray) -> np.ndarray:
        """Calibrate probabilities, one column per class.

        Args:
            proba: ``(rows, classes)`` probabilities from the model.

        Returns:
            Calibrated probabilities of the same shape; each row sums to 1.
        """
        proba = np.asarray(proba, dtype=np.float64)
        if self.method == IDENTITY:
            return proba
        if len(self.classes) == 2:
            x, y = self.maps[0]
            calibrated = np.empty_like(proba)
            calibrated[:, 1] = np.interp(proba[:, 1], x, y)
            np.subtract(1.0, calibrated[:, 1], out=calibrated[:, 0])
            return calibrated
        calibrated = np.column_stack(
            [np.interp(proba[:, k], x, y) for k, (x, y) in enumerate(self.maps)]
        )
        total = calibrated.sum(axis=1, keepdims=True)
        # A row every map sends to 0 keeps the model's own probabilities.
        empty = total[:, 0] <= 0
        total[empty] = 1.0
        calibrated /= total
        calibrated[empty] = proba[empty]
        return calibrated

    def to_dict(self) -> dict[str, Any]:
        """The calibrator as ``calibration.json`` holds it."""
        return {
            "format": FORMAT_VERSION,
            "method": self.method,
            "classes": list(self.classes),
            "rows": self.rows,
            "maps": [
                {"x": [float(v) for v in x], "y": [float(v) for v in y]}
                for x, y in self.maps
            ],
        }

    @classmethod
    def from_dict(cls, payload: Any, source: str = "calibration.json") -> Calibrator:
        """Read a calibrator back from :meth:`to_dict` output.

        Args:
            payload: The parsed JSON.
            source: Where it was read, for messages.

        Returns:
            The calibrator.

        Raises:
            DataError: The payload is not a calibrator of a known format.
        """
        if not isinstance(payload, Mapping) or payload.get("format") != FORMAT_VERSION:
            raise DataError(
                f"{source} is not a calibration file of format {FORMAT_VERSION}; "
                "expected the calibration.json written at registration."
            )
        method = payload.get("method")
        classes = payload.get("classes")
        maps = payload.get("maps")
        if method not in METHODS or not isinstance(classes, list) or len(classes) < 2:
            raise DataError(
                f"{source} has method {method!r} and classes {classes!r}; expected "
                f"one of {', '.join(METHODS)} and at least two classes."
            )
        expected = (
            0 if method == IDENTITY else (1 if len(classes) == 2 else len(classes))
        )
        if not isinstance(maps, list) or len(maps) != expected:
            raise DataError(
                f"{source} holds {len(maps) if isinstance(maps, list) else 0} maps; "
                f"expected {expected} for {method} with {len(classes)} classes."
            )
        parsed = []
        for position, entry in enumerate(maps):
            x = np.asarray(entry.get("x", []), dtype=np.float64)
            y = np.asarray(entry.get("y", []), dtype=np.float64)
            if (
                x.ndim != 1
                or x.shape != y.shape
                or not x.size
                or np.any(np.diff(x) < 0)
                or not (np.isfinite(x).all() and np.isfinite(y).all())
            ):
                raise DataError(
                    f"map {position} of {source} is not two equally long lists of "
                    "finite breakpoints with increasing x."
                )
            parsed.append((x, y))
        return cls(
            classes=tuple(classes),
            method=str(method),
            maps=tuple(parsed),
            rows=int(payload.get("rows", 0)),
        )


def fit_calibrator(
    proba: np.ndarray,
    y_idx: np.ndarray,
    classes: Sequence[Any],
    *,
    folds: int = CALIBRATION_FOLDS,
    seed: int = 0,
) -> Calibrator:
    """Fit isotonic maps on held-out rows, or the identity when they do not help.

    Args:
        proba: ``(rows, classes)`` probabilities the model gives the held-out rows.
        y_idx: The rows' true classes, as indices into ``classes``.
        classes: The model's classes.
        folds: Stratified folds used to judge whether calibration helps.
        seed: Shuffles the folds.

    Returns:
        The calibrator.
    """
    proba = np.asarray(proba, dtype=np.float64)
    y_idx = np.asarray(y_idx)
    classes = tuple(classes)
    rows = len(y_idx)
    identity = Calibrator(classes=classes, method=IDENTITY, rows=rows)
    counts = np.bincount(y_idx, minlength=len(classes))
    splits = min(folds, int(counts[counts > 0].min()) if rows else 0)
    if splits < 2 or np.count_nonzero(counts) < 2:
        return identity
    unseen = np.empty_like(proba)
    cutter = StratifiedKFold(n_splits=splits, shuffle=True, random_state=seed)
    for fit_rows, held_rows in cutter.split(proba, y_idx):
        fold = _isotonic(proba[fit_rows], y_idx[fit_rows], classes)
        unseen[held_rows] = fold.calibrate(proba[held_rows])
    if _brier(unseen, y_idx) >= _brier(proba, y_idx):
        return identity
    return _isotonic(proba, y_idx, classes)


def _isotonic(
    proba: np.ndarray, y_idx: np.ndarray, classes: tuple[Any, ...]
) -> Calibrator:
    columns = [1] if len(classes) == 2 else range(len(classes))
    maps = []
    for k in columns:
        regression = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
        regression.fit(proba[:, k], (y_idx == k).astype(np.float64))
        maps.append(
            (
                np.asarray(regression.X_thresholds_, dtype=np.float64),
                np.asarray(regression.y_thresholds_, dtype=np.float64),
            )
        )
    return Calibrator(
        classes=classes, method=ISOTONIC, maps=tuple(maps), rows=len(y_idx)
    )


def _brier(proba: np.ndarray, y_idx: np.ndarray) -> float:
    """Mean squared distance between the probabilities and the one-hot truth."""
    truth = np.zeros_like(proba)
    truth[np.arange(len(y_idx)), y_idx] = 1.0
    value = float(np.mean(np.sum((proba - truth) ** 2, axis=1)))
    return value if math.isfinite(value) else math.inf
