"""The approval gate: may a candidate model replace the champion?

A candidate is approved when it meets every absolute threshold set for its task, is no
worse than the champion on the primary metric by more than a tolerated fraction (the
champion re-scored by the caller on the same test split, so the comparison is fair),
and, when infra validation ran, loaded and answered in the serving runtime. With no
champion the thresholds alone decide. The decision carries one sentence a person can
act on and every check that led to it.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any

from mlops_suite.artifacts import CLASSIFICATION, REGRESSION, TASKS
from mlops_suite.errors import ApprovalError
from mlops_suite.evaluation.champion import rescore_champion
from mlops_suite.registry import ModelRegistry
from mlops_suite.registry.runs import APPROVAL_STEP, validate_run_id
from mlops_suite.tasks import HIGHER_IS_BETTER

if TYPE_CHECKING:
    import pandas as pd

# The metric a champion comparison is made on, per task.
PRIMARY_METRIC: dict[str, str] = {CLASSIFICATION: "roc_auc", REGRESSION: "rmse"}

# Threshold field -> (task it applies to, metric, "min" or "max").
_BOUNDS: dict[str, tuple[str, str, str]] = {
    "min_roc_auc": (CLASSIFICATION, "roc_auc", "min"),
    "min_accuracy": (CLASSIFICATION, "accuracy", "min"),
    "min_f1_macro": (CLASSIFICATION, "f1_macro", "min"),
    "max_log_loss": (CLASSIFICATION, "log_loss", "max"),
    "max_rmse": (REGRESSION, "rmse", "max"),
    "max_mae": (REGRESSION, "mae", "max"),
    "min_r2": (REGRESSION, "r2", "min"),
}

# Equal within rounding noise counts as meeting a bound: 0.9 * (1 - 0.01) is not 0.891.
_EPSILON = 1e-12


@dataclass(frozen=True)
class Thresholds:
    """Absolute bounds a candidate must meet, and the tolerated drop against champion.

    Every bound is optional (``None`` = not checked). Bounds of the other task are
    ignored, so one set of thresholds can serve a pipeline whatever its task.

    Attributes:
        min_roc_auc: Lowest acceptable ROC AUC (classification).
        min_accuracy: Lowest acceptable accuracy (classification).
        min_f1_macro: Lowest acceptable macro F1 (classification).
        max_log_loss: Highest acceptable log loss (classification).
        max_rmse: Highest acceptable RMSE (regression).
        max_mae: Highest acceptable MAE (regression).
        min_r2: Lowest acceptable R² (regression).
        max_regression: Tolerated relative drop of the primary metric against the
            champion, e.g. 0.01 = 1%.
    """

    min_roc_auc: float | None = None
    min_accuracy: float | None = None
    min_f1_macro: float | None = None
    max_log_loss: float | None = None
    max_rmse: float | None = None
    max_mae: float | None = None
    min_r2: float | None = None
    max_regression: float = 0.01

    def __post_init__(self) -> None:
        for name in _BOUNDS:
            value = getattr(self, name)
            if value is not None and not _is_number(value):
                raise ApprovalError(
                    f"Threshold {name} must be a finite number or null, got {value!r}."
                )
        if not _is_number(self.max_regression) or self.max_regression < 0:
            raise ApprovalError(
                "Threshold max_regression must be a finite number >= 0 (0.01 = 1%), "
                f"got {self.max_regression!r}."
            )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Thresholds:
        """Read thresholds from a mapping such as ``{"min_roc_auc": 0.8}``.

        Args:
            data: Threshold names to numbers; ``None`` values mean "not checked" and a
                missing or ``None`` ``max_regression`` keeps the default 0.01.

        Returns:
            The thresholds.

        Raises:
            ApprovalError: A key is not a known threshold or a value is not a number.
        """
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ApprovalError(
                f"Unknown threshold {', '.join(map(repr, unknown))}; "
                f"expected some of {', '.join(known)}."
            )
        values: dict[str, Any] = {}
        for key, value in data.items():
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ApprovalError(
                    f"Threshold {key} must be a number or null, got {value!r}."
                )
            values[key] = float(value)
        return cls(**values)

    def to_dict(self) -> dict[str, float | None]:
        """The thresholds as a JSON-ready mapping (``None`` = not checked)."""
        return asdict(self)


@dataclass(frozen=True)
class Decision:
    """The approval gate's verdict.

    Attributes:
        approved: Whether the candidate may be registered and promoted.
        reason: One sentence saying why, with the numbers that decided it.
        checks: Every check made, each ``{"name", "metric", "value", "bound",
            "passed"}`` (champion checks add ``champion_value`` and
            ``relative_change``, positive = worse).
        champion_version: The champion compared against, or ``None``.
    """

    approved: bool
    reason: str
    checks: list[dict[str, Any]]
    champion_version: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The decision as strict JSON-ready data (NaN and infinity become ``None``)."""
        return {
            "approved": self.approved,
            "reason": self.reason,
            "checks": [
                {key: _json_number(value) for key, value in check.items()}
                for check in self.checks
            ],
            "champion_version": self.champion_version,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Decision:
        """Read back a decision written by :meth:`to_dict` (e.g. ``blessing.json``).

        Args:
            data: The mapping produced by :meth:`to_dict`.

        Returns:
            The decision.

        Raises:
            ApprovalError: ``approved`` or ``reason`` is missing.
        """
        if not isinstance(data.get("approved"), bool) or "reason" not in data:
            raise ApprovalError(
                "A decision needs a boolean 'approved' and a 'reason', got keys "
                f"{sorted(data)}."
            )
        version = data.get("champion_version")
        return cls(
            approved=data["approved"],
            reason=str(data["reason"]),
            checks=[dict(check) for check in data.get("checks") or []],
            champion_version=int(version) if version is not None else None,
        )


def decide(
    task: str,
    candidate_metrics: Mapping[str, Any],
    *,
    thresholds: Thresholds | Mapping[str, Any],
    champion_metrics: Mapping[str, Any] | None = None,
    champion_version: int | None = None,
    infra_blessed: bool | None = None,
    infra_reason: str = "",
    primary_metric: str | None = None,
    champion_problem: str = "",
) -> Decision:
    """Decide whether a candidate model is approved.

    Args:
        task: ``"classification"`` or ``"regression"``.
        candidate_metrics: The candidate's metrics on the test split (``accuracy``,
            ``f1_macro``, ``roc_auc``, ``log_loss`` / ``rmse``, ``mae``, ``r2``).
        thresholds: Absolute bounds and the tolerated regression, or a mapping for
            :meth:`Thresholds.from_dict`.
        champion_metrics: The champion's metrics re-scored on the same test split, or
            ``None`` when there is no champion (thresholds alone decide).
        champion_version: The champion's registry version, used in the reason.
        infra_blessed: Whether the model loaded and answered in the serving runtime;
            ``None`` when infra validation did not run.
        infra_reason: Why infra validation failed, quoted in the reason.
        primary_metric: The metric compared with the champion; defaults to
            :data:`PRIMARY_METRIC` for the task.
        champion_problem: Why the champion could not be re-scored on this test
            split (``champion_metrics`` is then ``None``), quoted in the reason.

    Returns:
        The decision with its reason and checks.

    Raises:
        ApprovalError: The task or the primary metric is unknown.
    """
    if task not in TASKS:
        raise ApprovalError(
            f"Unknown task {task!r}; expected one of {', '.join(TASKS)}."
        )
    if not isinstance(thresholds, Thresholds):
        thresholds = Thresholds.from_dict(thresholds)
    primary = primary_metric or PRIMARY_METRIC[task]
    if primary not in HIGHER_IS_BETTER:
        raise ApprovalError(
            f"Unknown primary metric {primary!r}; expected one of "
            f"{', '.join(HIGHER_IS_BETTER)}."
        )

    checks: list[dict[str, Any]] = []
    failures: list[str] = []
    passes: list[tuple[str, str]] = []  # (metric, phrase) for the approval sentence

    if infra_blessed is not None:
        checks.append(
            {
                "name": "infra_validation",
                "metric": None,
                "value": bool(infra_blessed),
                "bound": True,
                "passed": bool(infra_blessed),
            }
        )
        if not infra_blessed:
            detail = _one_line(infra_reason)
            failures.append(
                "the model failed to load or answer in the serving runtime"
                + (f" ({detail})" if detail else "")
            )

    # Primary metric first so the sentence leads with what matters most.
    ordered = sorted(
        (name for name, (bound_task, _, _) in _BOUNDS.items() if bound_task == task),
        key=lambda name: _BOUNDS[name][1] != primary,
    )
    for name in ordered:
        bound = getattr(thresholds, name)
        if bound is None:
            continue
        _, metric, kind = _BOUNDS[name]
        word = "minimum" if kind == "min" else "maximum"
        value, problem = _metric(candidate_metrics, metric)
        if problem:
            checks.append(_check(name, metric, value, bound, False))
            failures.append(
                f"the candidate's {metric} is {problem}, so the {word} "
                f"{_fmt(bound)} cannot be checked"
            )
            continue
        assert value is not None
        passed = (
            value >= bound - _EPSILON if kind == "min" else value <= bound + _EPSILON
        )
        checks.append(_check(name, metric, value, bound, passed))
        shown = f"{metric} {_fmt_against(value, bound)}"
        if passed:
            verb = (
                "meets the minimum" if kind == "min" else "does not exceed the maximum"
            )
            passes.append((metric, f"{shown} {verb} {_fmt(bound)}"))
        else:
            verb = "is below the minimum" if kind == "min" else "is above the maximum"
            failures.append(f"{shown} {verb} {_fmt(bound)}")

    champion_phrase = ""
    champion_name = (
        f"champion v{champion_version}"
        if champion_version is not None
        else "the champion"
    )
    tolerance = _fmt_percent(thresholds.max_regression, trim=True)
    if champion_metrics is not None:
        value, problem = _metric(candidate_metrics, primary)
        reference, reference_problem = _metric(champion_metrics, primary)
        name = "max_regression_vs_champion"
        if problem:
            checks.append(_check(name, primary, value, None, False))
            failures.append(
                f"the candidate's {primary} is {problem}, so it cannot be compared "
                f"with {champion_name}"
            )
        elif reference_problem:
            checks.append(_check(name, primary, value, None, False))
            failures.append(
                f"{champion_name}'s {primary} on the same test split is "
                f"{reference_problem}, so the candidate cannot be compared with it"
            )
        else:
            assert value is not None and reference is not None
            higher = HIGHER_IS_BETTER[primary]
            worse = _relative_worsening(value, reference, higher)
            allowed = thresholds.max_regression * abs(reference)
            bound = reference - allowed if higher else reference + allowed
            passed = worse <= thresholds.max_regression + _EPSILON
            check = _check(name, primary, value, bound, passed)
            check.update(champion_value=reference, relative_change=worse)
            checks.append(check)
            shown = _fmt_against(value, reference)
            champion_shown = _fmt_against(reference, value)
            against = f"{champion_name} ({champion_shown} on the same test split)"
            if passed:
                champion_phrase = f"is within {tolerance} of {against}"
                passes.append((primary, f"{primary} {shown} {champion_phrase}"))
            else:
                how_much = (
                    f"{_fmt_percent(worse)} worse" if math.isfinite(worse) else "worse"
                )
                failures.append(
                    f"{primary} {shown} is {how_much} than {against}, "
                    f"beyond the {tolerance} tolerance"
                )

    unscored = ""
    if champion_metrics is None and champion_version is not None:
        unscored = f"champion v{champion_version} was not re-scored" + (
            f" ({_one_line(champion_problem).rstrip('.')})" if champion_problem else ""
        )
    if failures:
        reason = "Rejected: " + "; ".join(failures)
        reason += f"; {unscored}." if unscored else "."
        approved = False
    else:
        reason = "Approved: " + _approval_sentence(
            passes, primary, champion_metrics, champion_phrase, unscored
        )
        approved = True
    return Decision(
        approved=approved,
        reason=reason,
        checks=checks,
        champion_version=champion_version,
    )


def _approval_sentence(
    passes: list[tuple[str, str]],
    primary: str,
    champion_metrics: Mapping[str, Any] | None,
    champion_phrase: str,
    unscored: str,
) -> str:
    """The body of an approval sentence, e.g. "roc_auc 0.99 meets the minimum 0.80."."""
    phrases = [phrase for _, phrase in passes]
    # "roc_auc 0.991 meets the minimum 0.80 and is within 1% of champion v3 (...)":
    # fold the champion comparison into the primary threshold when they stand alone.
    if champion_phrase and len(passes) == 2 and passes[0][0] == primary:
        phrases = [f"{phrases[0]} and {champion_phrase}"]
    body = _join(phrases)
    if champion_metrics is None:
        prefix = unscored or "no champion yet"
        if not phrases:
            return f"{prefix} and no thresholds are set."
        return f"{prefix}; {body}."
    return f"{body}."


def _join(phrases: list[str]) -> str:
    if len(phrases) <= 2:
        return " and ".join(phrases)
    return ", ".join(phrases[:-1]) + ", and " + phrases[-1]


def _metric(metrics: Mapping[str, Any], name: str) -> tuple[float | None, str]:
    """A metric as a float, or ``None`` and why it is unusable ("missing", "NaN")."""
    if name not in metrics or metrics[name] is None:
        return None, "missing"
    try:
        value = float(metrics[name])
    except (TypeError, ValueError):
        return None, f"not a number ({metrics[name]!r})"
    if math.isnan(value):
        return value, "NaN"
    return value, ""


def _relative_worsening(
    value: float, reference: float, higher_is_better: bool
) -> float:
    """How much worse ``value`` is than ``reference``, as a fraction (< 0: better)."""
    delta = reference - value if higher_is_better else value - reference
    if reference == 0:
        # No scale to compare against: equal or better is fine, anything worse is not.
        return 0.0 if delta <= 0 else math.inf
    return delta / abs(reference)


def _check(
    name: str, metric: str, value: float | None, bound: float | None, passed: bool
) -> dict[str, Any]:
    return {
        "name": name,
        "metric": metric,
        "value": value,
        "bound": bound,
        "passed": passed,
    }


def _is_number(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
    )


def _json_number(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().rstrip(".")


def _fmt(value: float, decimals: int | None = None) -> str:
    """A number as people read it: 0.991, 0.80, 47.35, 512.3, 12,345.7."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if value == 0:
        return "0"
    magnitude = abs(value)
    if decimals is None:
        if magnitude < 0.01:
            return f"{value:.3g}"
        decimals = 1 if magnitude >= 100 else 2 if magnitude >= 10 else 3
    text = f"{value:,.{decimals}f}"
    # Trim noise zeros but keep two decimals below 100 so bounds read like "0.80".
    keep = 1 if magnitude >= 100 else 2
    whole, _, fraction = text.partition(".")
    fraction = fraction.rstrip("0")
    return f"{whole}.{fraction.ljust(min(keep, decimals), '0')}"


def _fmt_against(value: float, other: float) -> str:
    """``value`` formatted with enough digits to tell it apart from ``other``."""
    text = _fmt(value)
    if value == other or not math.isfinite(value) or not math.isfinite(other):
        return text
    decimals = 3
    while text == _fmt(other) and decimals < 12:
        decimals += 1
        text = _fmt(value, decimals)
    return text


def _fmt_percent(fraction: float, *, trim: bool = False) -> str:
    """A fraction as a percentage: 0.0819 -> "8.2%"; trimmed 0.01 -> "1%"."""
    percent = fraction * 100
    if trim:
        return f"{percent:.2f}".rstrip("0").rstrip(".") + "%"
    return f"{percent:.1f}%"


def approve(
    task: str,
    candidate_metrics: Mapping[str, Any],
    test: pd.DataFrame,
    *,
    registry_uri: str,
    model_name: str,
    thresholds: Mapping[str, Any] | str | None,
    max_regression: float,
    infra: Mapping[str, Any] | None = None,
    pipeline_run_id: str = "",
    candidate_sha256: str | None = None,
) -> Decision:
    """The approval gate as the pipeline runs it, champion re-score included.

    Re-scores the registered champion on the candidate's own test rows (so the
    comparison is fair), then calls :func:`decide`. A champion that cannot be scored
    on these rows leaves the thresholds alone to decide, and the reason says why.

    Args:
        task: ``"classification"`` or ``"regression"``.
        candidate_metrics: The candidate's metrics on ``test``.
        test: The held-out rows the candidate was evaluated on, label included.
        registry_uri: The model registry holding the champion.
        model_name: The registered model's name.
        thresholds: Absolute bounds as a mapping or a JSON object text (empty or
            None for none), e.g. ``{"min_roc_auc": 0.8}``.
        max_regression: The tolerated relative drop against the champion.
        infra: The infra validation's outcome (``{"blessed", "reason"}``), or None
            when it did not run.
        pipeline_run_id: The run; when given, the decision is recorded in the
            registry (:mod:`mlops_suite.registry.runs`) for the run's exit step.
        candidate_sha256: The candidate's model sha256: an approved candidate
            identical to the champion is recorded ``unchanged``.

    Returns:
        The decision.

    Raises:
        ApprovalError: The thresholds are malformed.
        RegistryError: The champion cannot be read or fails its hash check, the run
            id is not path-safe, or the decision could not be recorded.
    """
    if isinstance(thresholds, str):
        try:
            thresholds = json.loads(thresholds or "{}")
        except json.JSONDecodeError as error:
            raise ApprovalError(
                f"The thresholds are not a JSON object ({error.msg}): {thresholds!r}."
            ) from None
    if not isinstance(thresholds, Mapping | None):
        raise ApprovalError(
            f"The thresholds must be a JSON object, got {type(thresholds).__name__}."
        )
    bounds = Thresholds.from_dict(
        {**(thresholds or {}), "max_regression": max_regression}
    )
    if pipeline_run_id:  # refused before the champion is re-scored
        validate_run_id(pipeline_run_id)
    champion = rescore_champion(registry_uri, model_name, test)
    decision = decide(
        task,
        candidate_metrics,
        thresholds=bounds,
        champion_metrics=champion.metrics if champion else None,
        champion_version=champion.version if champion else None,
        champion_problem=champion.problem if champion else "",
        infra_blessed=bool(infra["blessed"]) if infra is not None else None,
        infra_reason=str(infra.get("reason", "")) if infra is not None else "",
    )
    if pipeline_run_id:
        registry = ModelRegistry(registry_uri)
        current = registry.champion(model_name)
        same = current is not None and current.model_sha256 == candidate_sha256
        verdict = "rejected" if not decision.approved else "approved"
        registry.runs.write(
            model_name,
            pipeline_run_id,
            APPROVAL_STEP,
            decision="unchanged" if decision.approved and same else verdict,
            reason=decision.reason,
            champion_version=decision.champion_version,
        )
    return decision
