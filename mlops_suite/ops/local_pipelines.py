"""Run the suite's pipelines locally and say what they did to the registry.

:func:`run_training` and :func:`run_continuous_training` take typed settings, check
the model name before anything runs, run the pipeline with
:func:`mlops_suite.ops.local_run.run_locally` (every step its own process) and read
what it reports (``approved``/``retrain``, ``reason``, ``version``, ``new_version``),
so the outcome names the version registered, or why none was.

Given a ``notify_url``, they tell that webhook how the run ended, succeeded or failed,
with the message the pipelines' exit step sends (:mod:`mlops_suite.notification`): the
steps run here without the pipeline's ``dsl.ExitHandler``, whose steps could not
return the outputs the summary reads, so the runner sends it itself.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_suite import notification
from mlops_suite.notification import RunEnd, check_notify_url

if TYPE_CHECKING:
    from mlops_suite.ops.local_run import LocalRun, PipelineRunError
    from mlops_suite.registry import ModelRegistry


@dataclass(frozen=True)
class PipelineOutcome:
    """What a local pipeline run decided, and where it left its outputs.

    Attributes:
        message: What happened to the model, in one or two sentences.
        new_champion: The version the run registered (now the champion), else None.
        run: The run's outputs, reports and log.
        pending: The version the run registered as the pending challenger (manual
            approval), waiting for a person; else None.
        decision: What the run decided, one of
            :data:`mlops_suite.notification.DECISIONS`.
        reason: Why, in the words of the step that decided.
        version: The version the run registered, or found the candidate identical
            to; else None.
    """

    message: str
    new_champion: int | None
    run: LocalRun
    pending: int | None = None
    decision: str = ""
    reason: str = ""
    version: int | None = None

    def summary(self) -> str:
        """The message, then where the run left its reports, outputs and log."""
        lines = [self.message]
        lines += [
            f"  report: {path}  ({path.parent.name})" for path in self.run.reports()
        ]
        if self.run.run_dir is not None:
            lines.append(f"  outputs: {self.run.run_dir}")
        lines.append(f"  log: {self.run.log_path}")
        return "\n".join(lines)


def run_training(
    *,
    data_uri: str,
    label: str,
    model_name: str,
    registry_uri: str,
    pipeline_root: Path,
    task: str | None = None,
    schema_uri: str | None = None,
    estimator: str | None = None,
    params: Mapping[str, Any] | None = None,
    tune: bool = False,
    seed: int = 0,
    slice_column: str | None = None,
    thresholds: Mapping[str, Any] | None = None,
    max_regression: float | None = None,
    approval: str = "auto",
    intended_use: str | None = None,
    notify_url: str | None = None,
) -> PipelineOutcome:
    """Runs the training pipeline locally: train, evaluate, approve and register.

    Args:
        data_uri: The labelled CSV or Parquet file (an absolute path or a URI: the
            steps run as processes of their own).
        label: The column to predict.
        model_name: The model's name in the registry.
        registry_uri: The registry folder or URI.
        pipeline_root: Where step outputs and the log go.
        task: ``classification`` or ``regression``; inferred from the label if None.
        schema_uri: A curated ``schema.json`` to validate against.
        estimator: The estimator's name, e.g. ``random_forest``.
        params: Hyperparameters.
        tune: Run hyperparameter trials.
        seed: The random seed.
        slice_column: A categorical feature to slice the metrics by.
        thresholds: Approval bounds, e.g. ``{"min_roc_auc": 0.9}``.
        max_regression: Tolerated relative drop against the champion (the
            pipeline's default when None).
        approval: ``auto`` (an approved model becomes champion) or ``manual`` (it
            becomes the pending challenger and waits for a person).
        intended_use: What the model is for, written into its model card.
        notify_url: A webhook (http or https) told how the run ended; None or empty
            for none.

    Returns:
        The outcome: the version registered, or why none was.

    Raises:
        MlopsError: A step stopped the run; the message is the step's sentence.
            Before any step runs: a bad model name, approval mode or notify URL.
    """
    from mlops_suite.registry import (
        ModelRegistry,
        check_approval_mode,
        validate_model_name,
    )

    validate_model_name(model_name)
    check_approval_mode(approval)
    notice = _Notice(check_notify_url(notify_url or ""), "training", model_name)
    registry = ModelRegistry(registry_uri)
    arguments: dict[str, Any] = {
        "data_uri": data_uri,
        "label": label,
        "model_name": model_name,
        "registry_uri": registry_uri,
        "task": task or "",
        "schema_uri": schema_uri or "",
        "estimator": estimator or "",
        "params_json": json.dumps(params or {}, sort_keys=True),
        "tune": tune,
        "seed": seed,
        "slice_column": slice_column or "",
        "approval": approval,
        "intended_use": intended_use or "",
    }
    if thresholds is not None:
        arguments["thresholds_json"] = json.dumps(thresholds, sort_keys=True)
    if max_regression is not None:
        arguments["max_regression"] = max_regression
    run = notice.run(_training_steps, arguments, pipeline_root)
    reason = str(run.outputs.get("reason", "")).strip()
    version = int(run.outputs.get("version") or 0)
    new = version if run.outputs.get("new_version") else None
    # With manual approval the new version is the pending challenger, not champion.
    pending, new = (new, None) if approval == "manual" else (None, new)
    if not run.outputs.get("approved"):
        champion = registry.champion(model_name)
        stays = f"champion stays v{champion.version}" if champion else "no champion yet"
        message = f"{reason} Nothing registered; {stays}."
        decision = notification.REJECTED
    elif pending is not None:
        message = f"{reason} {_waits_for_a_person(registry, model_name, pending)}"
        decision = notification.PENDING_APPROVAL
    elif new is not None:
        where = registry.version_uri(model_name, new)
        message = f"{reason} Registered {model_name} v{new} at {where}."
        decision = notification.APPROVED
    else:
        message = (
            f"{reason} No new version: the model is byte-identical to "
            f"champion v{version}."
        )
        decision = notification.UNCHANGED
    outcome = PipelineOutcome(
        message,
        new_champion=new,
        run=run,
        pending=pending,
        decision=decision,
        reason=reason,
        version=version or None,
    )
    notice.ended(outcome)
    return outcome


def run_continuous_training(
    *,
    current_uri: str,
    training_data_uri: str,
    label: str,
    model_name: str,
    registry_uri: str,
    pipeline_root: Path,
    labels_uri: str | None = None,
    label_column: str = "label",
    force: bool = False,
    drift_thresholds: Mapping[str, Any] | None = None,
    approval: str = "auto",
    intended_use: str | None = None,
    notify_url: str | None = None,
    ignore_features: Sequence[str] = (),
    performance_thresholds: Mapping[str, Any] | None = None,
) -> PipelineOutcome:
    """Runs continuous training locally: judge the champion, retrain if it fell.

    Args:
        current_uri: The latest window: a Parquet file or folder, or a CSV file.
        training_data_uri: The labelled data to retrain on.
        label: The column to predict.
        model_name: The model's name in the registry.
        registry_uri: The registry folder or URI.
        pipeline_root: Where step outputs and the log go.
        labels_uri: Ground truth for the logged predictions (decay), if any.
        label_column: The labels' column.
        force: Retrain whatever the data says.
        drift_thresholds: Monitoring thresholds; the defaults when None or empty.
        approval: ``auto`` or ``manual``, as for :func:`run_training`.
        intended_use: What a retrained model is for, written into its model card.
        notify_url: A webhook (http or https) told how the run ended; None or empty
            for none.
        ignore_features: Columns never compared for drift.
        performance_thresholds: A threshold per metric, e.g. ``{"accuracy": 0.85}``.

    Returns:
        The outcome: why the run retrained or not, and the new champion if any.

    Raises:
        MlopsError: A step stopped the run; the message is the step's sentence.
            Before any step runs: a bad model name, approval mode or notify URL.
    """
    from mlops_suite.registry import (
        ModelRegistry,
        check_approval_mode,
        validate_model_name,
    )

    validate_model_name(model_name)
    check_approval_mode(approval)
    notice = _Notice(
        check_notify_url(notify_url or ""), "continuous_training", model_name
    )
    arguments: dict[str, Any] = {
        "current_uri": current_uri,
        "training_data_uri": training_data_uri,
        "label": label,
        "model_name": model_name,
        "registry_uri": registry_uri,
        "labels_uri": labels_uri or "",
        "label_column": label_column,
        "force": force,
        "drift_thresholds_json": json.dumps(drift_thresholds)
        if drift_thresholds
        else "",
        "approval": approval,
        "intended_use": intended_use or "",
        "ignore_features": ",".join(ignore_features),
        "performance_thresholds_json": json.dumps(
            performance_thresholds, sort_keys=True
        )
        if performance_thresholds
        else "",
    }
    run = notice.run(_continuous_training_steps, arguments, pipeline_root)
    version = int(run.outputs.get("version") or 0)
    new = version if run.outputs.get("new_version") else None
    pending, new = (new, None) if approval == "manual" else (None, new)
    reason = str(run.outputs.get("reason", "")).strip()
    lines = [reason]
    decision = notification.NOT_RETRAINED
    if run.outputs.get("retrain"):
        if pending is not None:
            registry = ModelRegistry(registry_uri)
            waits = _waits_for_a_person(registry, model_name, pending)
            lines.append(f"Retrained: {waits}")
            decision = notification.PENDING_APPROVAL
        elif new is not None:
            lines.append(f"Retrained: {model_name} v{new} is the new champion.")
            decision = notification.APPROVED
        elif version:
            lines.append(
                "Retrained: the candidate is byte-identical to champion "
                f"v{version}; no new version."
            )
            decision = notification.UNCHANGED
        elif run.outputs.get("rolled_back"):
            lines.append(
                "Retrained, but the candidate was not approved. "
                + str(run.outputs.get("rollback", "")).strip()
            )
            decision = notification.ROLLED_BACK
        else:
            champion = ModelRegistry(registry_uri).champion(model_name)
            stays = f"v{champion.version}" if champion else "none"
            lines.append(
                "Retrained, but the candidate was not approved; "
                f"champion stays {stays}."
            )
            decision = notification.REJECTED
            if labels_uri:
                lines.append(str(run.outputs.get("rollback", "")).strip())
    outcome = PipelineOutcome(
        "\n".join(lines),
        new_champion=new,
        run=run,
        pending=pending,
        decision=decision,
        reason=" ".join(lines),
        version=version or None,
    )
    notice.ended(outcome)
    return outcome


@dataclass(frozen=True)
class _Notice:
    """Runs the steps and tells ``url`` how the run ended (nothing when it is empty).

    The message is the one the pipelines' exit step sends; the run id is the run's
    folder (kfp.local's name for the run), and a failure names the first step that
    failed, from the step log. ``pipeline`` names the module under
    ``mlops_suite.pipelines`` whose ``PIPELINE_NAME`` the message gives, read only
    when a message goes out: importing it loads kfp, which the steps' fork server
    should not wait for.
    """

    url: str
    pipeline: str
    model_name: str

    @property
    def pipeline_name(self) -> str:
        """The published pipeline's name, as the exit step would report it."""
        import importlib

        module = importlib.import_module(f"mlops_suite.pipelines.{self.pipeline}")
        return str(module.PIPELINE_NAME)

    def run(
        self, build: Callable[[], Any], arguments: dict[str, Any], pipeline_root: Path
    ) -> LocalRun:
        """Builds and runs the steps; when a step fails, notifies, then raises."""
        from mlops_suite.ops.local_run import PipelineRunError

        try:
            return _run(build, arguments, pipeline_root)
        except PipelineRunError as error:
            self._failed(error)
            raise

    def ended(self, outcome: PipelineOutcome) -> None:
        """Notifies how a run that went through ended: its decision and reports."""
        if not self.url:
            return
        run = outcome.run
        reports = (*(str(path) for path in run.reports()), str(run.log_path))
        end = RunEnd(
            pipeline=self.pipeline_name,
            run_id=_run_id(run.run_dir, run.log_path),
            status=notification.SUCCEEDED,
            decision=outcome.decision,
            reason=outcome.reason,
            model_name=self.model_name,
            version=outcome.version,
            reports=reports,
        )
        notification.send(self.url, end.message())

    def _failed(self, error: PipelineRunError) -> None:
        if not self.url:
            return
        end = RunEnd(
            pipeline=self.pipeline_name,
            run_id=_run_id(error.run_dir, error.log_path),
            status=notification.FAILED,
            decision=notification.NO_DECISION,
            reason=str(error),
            model_name=self.model_name,
            failed_step=error.failed_step,
            reports=(str(error.log_path),) if error.log_path else (),
        )
        notification.send(self.url, end.message())


def _run_id(run_dir: Path | None, log_path: Path | None) -> str:
    """A local run's id: the folder kfp.local named for it, else its log's name."""
    if run_dir is not None:
        return run_dir.name
    return log_path.stem if log_path is not None else "local"


def _training_steps() -> Any:
    from mlops_suite.pipelines.training import build_training_steps

    return build_training_steps()


def _continuous_training_steps() -> Any:
    from mlops_suite.pipelines.continuous_training import (
        build_continuous_training_steps,
    )

    return build_continuous_training_steps()


def _run(
    build: Callable[[], Any], arguments: dict[str, Any], pipeline_root: Path
) -> LocalRun:
    """Build the pipeline (kfp and the components load) and run it locally.

    The steps' fork server starts first, so it imports while this process builds.
    """
    from mlops_suite.ops.fork_server import forked_steps
    from mlops_suite.ops.local_run import run_locally

    with forked_steps() as step_python:
        return run_locally(
            build(), arguments, pipeline_root=pipeline_root, step_python=step_python
        )


def _waits_for_a_person(registry: ModelRegistry, name: str, version: int) -> str:
    """The summary of a manual run: the pending version, the champion, what to do."""
    champion = registry.champion(name)
    stays = f"champion stays v{champion.version}" if champion else "no champion yet"
    where = registry.version_uri(name, version)
    return (
        f"Registered {name} v{version} at {where} as the pending challenger; it "
        f"waits for a person ({stays}): mlops registry approve --registry "
        f"{registry.uri} --model-name {name} --version {version} --by NAME "
        "--reason TEXT (or reject)."
    )
