"""The model card of a registered version, as Markdown, built from its metadata alone.

The sections follow the Model Card Toolkit's fields: model details, intended use,
training data, evaluation, explanation, approval, and limitations. Everything comes
from the version's ``metadata.json`` (the model's own metadata, ``lineage``,
``statistics`` and ``explanation``), so the card of any version can be rebuilt at any
time, and the caveats are derived from the numbers rather than written by hand:
classes and slices with little held-out support, slices below an approval threshold,
and features with many missing values.

The registry writes the card as ``model_card.md`` beside the model file (the name
never ends like a model file, so KServe still finds exactly one model); the register
step also shows it as the run's ``Markdown`` artifact.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from mlops_suite.artifacts import CLASSIFICATION
from mlops_suite.explanation import EXPLANATION_KEY, ranked_importance

# Held-out rows below which a class's or a slice's metrics are called uncertain.
MIN_SUPPORT = 30
# A feature missing in more than this share of rows is called out.
HIGH_MISSING_RATE = 0.2
# Features listed in the explanation section.
TOP_FEATURES = 10
# Approval checks that bound one metric, so a slice can be held to them too.
_BOUND_PREFIXES = ("min_", "max_")
_CHAMPION_CHECK = "max_regression_vs_champion"
_NOT_RECORDED = "not recorded"


def build_model_card(
    metadata: Mapping[str, Any],
    *,
    model_name: str = "",
    decision: Mapping[str, Any] | None = None,
) -> str:
    """Renders a version's model card.

    Args:
        metadata: The version's ``metadata.json`` (``ModelRegistry.metadata``); keys
            it lacks are shown as not recorded.
        model_name: The registered model's name, for the title.
        decision: A person's decision on the version (``status``, ``by``,
            ``reason``, ``time``), once there is one; before it, a version
            registered for manual approval shows as pending.

    Returns:
        The card as Markdown.
    """
    lineage = _mapping(metadata.get("lineage"))
    evaluation = _mapping(lineage.get("evaluation"))
    version = metadata.get("version")
    title = " ".join(
        part for part in (model_name, f"v{version}" if version else "") if part
    )
    sections = [
        f"# Model card: {title or 'unregistered model'}",
        _details(metadata, lineage),
        _intended_use(lineage),
        _training_data(metadata, lineage),
        _evaluation(lineage, evaluation),
        _explanation(metadata),
        _approval(lineage, decision or {}),
        _limitations(metadata, lineage, evaluation),
    ]
    return "\n\n".join(sections).rstrip() + "\n"


# ------------------------------------------------------------------ sections
def _details(metadata: Mapping[str, Any], lineage: Mapping[str, Any]) -> str:
    task = metadata.get("task")
    label = metadata.get("label")
    lines = ["## Model details", ""]
    what = f"{task or 'model'} of `{label}`" if label else str(task or _NOT_RECORDED)
    classes = metadata.get("classes")
    if classes:
        what += f" (classes: {', '.join(f'`{c}`' for c in classes)})"
    features = metadata.get("features") or []
    described = ", ".join(
        f"`{feature.get('name')}` ({feature.get('type')})" for feature in features
    )
    versions: dict[str, Any] = {"scikit-learn": metadata.get("sklearn_version")}
    versions.update(_mapping(lineage.get("library_versions")))
    versions["kfp-mlops-suite"] = lineage.get("package_version")
    libraries = ", ".join(
        f"{name} {value}" for name, value in versions.items() if value
    )
    lines += [
        f"- **Task:** {what}",
        f"- **Estimator:** {_code(metadata.get('estimator'))}",
        f"- **Hyperparameters:** {_json(metadata.get('hyperparameters'))}",
        f"- **Features ({len(features)}):** {described or _NOT_RECORDED}",
        f"- **Libraries:** {libraries or _NOT_RECORDED}",
        f"- **Image:** {_code(lineage.get('component_image'))}",
        f"- **Commit:** {_code(lineage.get('git_commit'))}",
        f"- **Pipeline run:** {_code(lineage.get('pipeline_run_id'))}",
        f"- **Model sha256:** {_code(metadata.get('model_sha256'))}",
        f"- **Registered:** {lineage.get('registered_at') or _NOT_RECORDED}",
    ]
    trials = lineage.get("tuning_trials") or []
    if trials:
        chosen = next((t for t in trials if t.get("selected")), trials[0])
        lines.append(
            f"- **Tuning:** chosen from {len(trials)} trials on the validation split "
            f"({chosen.get('metric')} {_fmt(chosen.get('score'))})"
        )
    return "\n".join(lines)


def _intended_use(lineage: Mapping[str, Any]) -> str:
    text = str(lineage.get("intended_use") or "").strip()
    if not text:
        text = (
            "No intended use was given when this version was registered (set it with "
            "`--intended-use` or the pipeline parameter `intended_use`)."
        )
    return f"## Intended use\n\n{text}"


def _training_data(metadata: Mapping[str, Any], lineage: Mapping[str, Any]) -> str:
    statistics = _mapping(metadata.get("statistics"))
    columns = _columns(metadata)
    lines = [
        "## Training data",
        "",
        f"- **Data sha256:** {_code(lineage.get('data_sha256'))}",
        f"- **Schema sha256:** {_code(lineage.get('schema_sha256'))}",
    ]
    if not columns:
        lines.append("- **Profile:** not recorded")
        return "\n".join(lines)
    lines += [
        f"- **Rows:** {statistics.get('num_rows', _NOT_RECORDED)} (the profiled "
        "dataset, before it was split)",
        f"- **Columns:** {len(columns)}",
    ]
    missing = [c for c in columns if (c.get("missing") or 0) > 0]
    if missing:
        lines += ["", "Missing values:", "", "| column | missing | share |"]
        lines.append("|---|---:|---:|")
        lines += [
            f"| {_cell(c.get('name'))} | {c.get('missing')} | "
            f"{_percent(c.get('missing_fraction'))} |"
            for c in sorted(missing, key=lambda c: -(c.get("missing") or 0))
        ]
    else:
        lines.append("- **Missing values:** none")
    if metadata.get("task") == CLASSIFICATION:
        balance = _class_balance(metadata, lineage)
        if balance is None:
            lines += ["", "Class balance: not recorded."]
        else:
            where, counts = balance
            total = sum(counts.values()) or 1
            lines += ["", f"Class balance ({where}):", "", "| class | rows | share |"]
            lines.append("|---|---:|---:|")
            lines += [
                f"| {_cell(name)} | {count} | {_percent(count / total)} |"
                for name, count in counts.items()
            ]
    return "\n".join(lines)


def _evaluation(lineage: Mapping[str, Any], evaluation: Mapping[str, Any]) -> str:
    metrics = _mapping(lineage.get("metrics"))
    lines = ["## Evaluation", ""]
    if not metrics:
        return "\n".join([*lines, "No metrics were recorded."])
    rows = evaluation.get("n_rows")
    primary = evaluation.get("primary_metric")
    lines.append(
        f"On {rows if rows is not None else 'the'} held-out test rows"
        + (f"; primary metric `{primary}`." if primary else ".")
    )
    names = list(metrics)
    lines += ["", _table(["", *names], [["overall", *map(metrics.get, names)]])]
    slices = _mapping(evaluation.get("slices"))
    column = evaluation.get("slice_column")
    if slices and column:
        body = [
            [value, entry.get("n_rows"), *(entry.get(n) for n in names)]
            for value, entry in slices.items()
        ]
        lines += ["", f"By `{column}`:", "", _table([column, "rows", *names], body)]
    return "\n".join(lines)


def _explanation(metadata: Mapping[str, Any]) -> str:
    explanation = _mapping(metadata.get(EXPLANATION_KEY))
    rows = ranked_importance(explanation)
    lines = ["## Explanation", ""]
    if not rows:
        return "\n".join([*lines, "No explanation was recorded for this version."])
    metric = explanation.get("metric", "the primary metric")
    lines.append(
        f"Permutation importance on {explanation.get('n_rows', '?')} held-out rows, "
        f"{explanation.get('n_repeats', '?')} shuffles per column: the drop of "
        f"`{metric}` when a column is shuffled. Top {min(len(rows), TOP_FEATURES)} of "
        f"{len(rows)}:"
    )
    body = [
        [rank, name, mean, std]
        for rank, (name, mean, std) in enumerate(rows[:TOP_FEATURES], start=1)
    ]
    lines += ["", _table(["rank", "feature", "importance", "std"], body)]
    return "\n".join(lines)


def _approval(lineage: Mapping[str, Any], decision: Mapping[str, Any]) -> str:
    manual = lineage.get("approval_mode") == "manual"
    status = decision.get("status") or ("pending" if manual else None)
    lines = ["## Approval", ""]
    if status:
        lines.append(f"- **Status:** {status}")
    by = decision.get("by")
    run = lineage.get("pipeline_run_id")
    when = f" on {decision['time']}" if decision.get("time") else ""
    if status == "pending":
        how = "waiting for a person (manual approval)"
    elif by:
        verb = "rejected" if status == "rejected" else "approved"
        how = f"{verb} by {by}{when}" + (
            ", after the approval gate passed it" if manual else ""
        )
    else:
        how = "automatically, by the approval gate" + (
            f" of run `{run}`" if run else ""
        )
    lines.append(f"- **How:** {how}")
    gate = lineage.get("approval_reason") or _NOT_RECORDED
    if decision.get("reason"):
        lines.append(f"- **Why:** {decision['reason']}")
        lines.append(f"- **The gate:** {gate}")
    else:
        lines.append(f"- **Why:** {gate}")
    against = lineage.get("compared_with_version")
    lines.append(
        "- **Against:** "
        + (
            f"champion v{against}, re-scored on the same test split"
            if against
            else "no champion; the thresholds alone decided"
        )
    )
    checks = [c for c in lineage.get("approval_checks") or [] if isinstance(c, Mapping)]
    if checks:
        body = [
            [
                c.get("name"),
                c.get("metric") or "",
                c.get("value"),
                c.get("bound"),
                "yes" if c.get("passed") else "no",
            ]
            for c in checks
        ]
        lines += ["", _table(["check", "metric", "value", "bound", "passed"], body)]
    return "\n".join(lines)


def _limitations(
    metadata: Mapping[str, Any],
    lineage: Mapping[str, Any],
    evaluation: Mapping[str, Any],
) -> str:
    caveats = [
        *_thin_classes(metadata, lineage, evaluation),
        *_thin_slices(evaluation),
        *_slices_below_bounds(lineage, evaluation),
        *_missing_features(metadata),
    ]
    if not lineage.get("metrics"):
        caveats.append("No evaluation metrics were recorded for this version.")
    if not ranked_importance(_mapping(metadata.get(EXPLANATION_KEY))):
        caveats.append("No explanation was recorded, so what drives it is unknown.")
    lines = ["## Limitations and caveats", ""]
    if not caveats:
        return "\n".join(
            [
                *lines,
                "None found in the recorded data: every class and slice has at least "
                f"{MIN_SUPPORT} held-out rows, every slice meets the approval "
                "thresholds, and no feature is missing in more than "
                f"{HIGH_MISSING_RATE:.0%} of rows.",
            ]
        )
    return "\n".join([*lines, *(f"- {caveat}" for caveat in caveats)])


# ------------------------------------------------------------------ caveats
def _thin_classes(
    metadata: Mapping[str, Any],
    lineage: Mapping[str, Any],
    evaluation: Mapping[str, Any],
) -> list[str]:
    support = _mapping(evaluation.get("class_support"))
    found = [
        f"Class `{name}` has only {count} held-out rows (< {MIN_SUPPORT}): its "
        "metrics are uncertain."
        for name, count in support.items()
        if isinstance(count, int) and count < MIN_SUPPORT
    ]
    balance = _class_balance(metadata, lineage)
    if balance is not None and balance[0] != _TEST_SUPPORT:
        counts = balance[1]
        total = sum(counts.values()) or 1
        found += [
            f"Class `{name}` is {_percent(count / total)} of the training data "
            f"({count} rows): the model saw few examples of it."
            for name, count in counts.items()
            if count < MIN_SUPPORT and name not in support
        ]
    return found


def _thin_slices(evaluation: Mapping[str, Any]) -> list[str]:
    column = evaluation.get("slice_column")
    return [
        f"Slice `{column}` = `{value}` has only {entry.get('n_rows')} held-out rows "
        f"(< {MIN_SUPPORT}): its metrics are uncertain."
        for value, entry in _mapping(evaluation.get("slices")).items()
        if isinstance(_mapping(entry).get("n_rows"), int)
        and entry["n_rows"] < MIN_SUPPORT
    ]


def _slices_below_bounds(
    lineage: Mapping[str, Any], evaluation: Mapping[str, Any]
) -> list[str]:
    column = evaluation.get("slice_column")
    slices = _mapping(evaluation.get("slices"))
    found = []
    for check in map(_mapping, lineage.get("approval_checks") or []):
        name, metric = check.get("name"), check.get("metric")
        bound: Any = check.get("bound")
        if (
            not isinstance(name, str)
            or not name.startswith(_BOUND_PREFIXES)
            or name == _CHAMPION_CHECK
            or not isinstance(metric, str)
            or not _is_number(bound)
        ):
            continue
        minimum = name.startswith("min_")
        for value, entry in slices.items():
            recorded: Any = _mapping(entry).get(metric)
            if not _is_number(recorded):
                continue
            score, limit = float(recorded), float(bound)
            if score < limit if minimum else score > limit:
                side = "below the minimum" if minimum else "above the maximum"
                found.append(
                    f"Slice `{column}` = `{value}`: {metric} {_fmt(score)} is {side} "
                    f"{_fmt(bound)} the whole test split had to meet."
                )
    return found


def _missing_features(metadata: Mapping[str, Any]) -> list[str]:
    features = {str(f.get("name")) for f in metadata.get("features") or []}
    columns = _columns(metadata)
    return [
        f"Feature `{c.get('name')}` is missing in "
        f"{_percent(c.get('missing_fraction'))} of the training rows; predictions "
        "lean on how the model fills it in."
        for c in columns
        if str(c.get("name")) in features
        and _is_number(c.get("missing_fraction"))
        and c["missing_fraction"] > HIGH_MISSING_RATE
    ]


# ------------------------------------------------------------------ helpers
_TEST_SUPPORT = "held-out test rows; the profile has no per-class counts"


def _class_balance(
    metadata: Mapping[str, Any], lineage: Mapping[str, Any]
) -> tuple[str, dict[str, int]] | None:
    """Rows per class: from the data profile, else the test split's support."""
    label = metadata.get("label")
    for column in _columns(metadata):
        if column.get("name") == label and column.get("frequencies"):
            counts = {str(k): int(v) for k, v in column["frequencies"].items()}
            return "the profiled dataset", counts
    support = _mapping(_mapping(lineage.get("evaluation")).get("class_support"))
    if support:
        return _TEST_SUPPORT, {str(k): int(v) for k, v in support.items()}
    return None


def _columns(metadata: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The profiled columns of ``statistics.json``, skipping anything else."""
    columns = _mapping(metadata.get("statistics")).get("columns")
    if not isinstance(columns, list):
        return []
    return [column for column in columns if isinstance(column, Mapping)]


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _is_number(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
    )


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int):
        return str(value)
    return f"{value:.4g}" if abs(value) >= 1000 else f"{value:.4f}"


def _percent(value: Any) -> str:
    return f"{value:.1%}" if _is_number(value) else "n/a"


def _code(value: Any) -> str:
    return f"`{value}`" if value else _NOT_RECORDED


def _json(value: Any) -> str:
    if not value:
        return "defaults" if value == {} else _NOT_RECORDED
    return f"`{json.dumps(value, sort_keys=True, default=str)}`"


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _table(head: Sequence[Any], rows: Iterable[Sequence[Any]]) -> str:
    def show(value: Any) -> str:
        return _cell(
            _fmt(value) if value is None or isinstance(value, float) else value
        )

    lines = [
        "| " + " | ".join(_cell(h) for h in head) + " |",
        "|" + "---|" * len(head),
    ]
    lines += ["| " + " | ".join(show(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
