"""Serve a model folder the way KServe's stock scikit-learn runtime serves it.

The cluster runs KServe's ``sklearnserver`` image; this module reproduces it locally
so that what passes here passes there. :class:`SklearnRuntimeModel` follows the stock
``SKLearnModel`` step by step:

* **discovery**: the folder must hold exactly one regular file ending in ``.joblib``,
  ``.pkl`` or ``.pickle`` (any name, the stock runtime does not insist on
  ``model.joblib``); none or several stop the load;
* **loading**: plain ``joblib.load`` of that file, so a pickle that needs a class the
  runtime cannot import fails exactly as it would in the pod (both rules are
  :mod:`mlops_suite.model_folder`'s, shared with training and the registry);
* **requests**: ``kserve.utils.utils.get_predict_input`` decodes V1 and V2 payloads,
  ``predict`` (or ``predict_proba`` when the ``PREDICT_PROBA`` environment variable
  is ``true``) runs on what it returns, ``get_predict_response`` encodes the answer.

One thing is added before loading: when ``metadata.json`` sits next to the model file,
the file's sha256 must equal its ``model_sha256``, so a file changed after training
or registration is refused instead of served. A folder without ``metadata.json`` is
served as the stock runtime serves it.

What the stock decoding hands the model matters to anyone who trains for it:

* V1 ``{"instances": rows}`` becomes ``np.array(rows)``: an ``object`` array when
  some value is ``null`` (``None`` then stays ``None``, numbers and booleans keep
  their Python type), but a **fixed-width string array** (``<U32``) when no value is
  missing and the rows mix strings and numbers, so ``39.1`` arrives as ``'39.1'`` and
  ``true`` as ``'True'``. One request can therefore decode differently from the same
  rows sent one by one; a model must predict the same on both forms. V1 instances
  given as JSON objects fail in the stock decoder (pandas needs an index), so rows
  are sent as lists in training column order.
* V2 with ``"parameters": {"content_type": "pd"}`` becomes a DataFrame with one column
  per input, built from the JSON lists as they are; see
  :mod:`mlops_suite.serving.sample_requests` for what each datatype turns into.

Servers bind ``127.0.0.1`` unless told otherwise: kserve's REST server hard-codes
``0.0.0.0``, so :func:`serve` overrides the address before uvicorn binds. The gRPC
server is not started (the suite speaks REST only and a fixed gRPC port would clash
between local servers). :mod:`mlops_suite.serving.server_process` runs servers in
child processes.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import threading
import time
from typing import Any

import kserve
from kserve.errors import InferenceError
from kserve.utils.utils import get_predict_input, get_predict_response

from mlops_suite.errors import ERROR_MARKER, MlopsError, ServingError
from mlops_suite.model_folder import load_model
from mlops_suite.serving.probabilities import PREDICT_PROBA_ENV, PREDICT_PROBA_ON
from mlops_suite.serving.server_process import DEFAULT_HOST


class SklearnRuntimeModel(kserve.Model):
    """KServe's stock ``SKLearnModel``, plus a hash check before loading.

    Args:
        name: The name the model is served under (``/v1/models/<name>``).
        model_dir: The local model folder.
    """

    def __init__(self, name: str, model_dir: str | os.PathLike[str]):
        super().__init__(name)
        self.name = name
        self.model_dir = str(model_dir)
        self.ready = False
        self._model: Any = None

    def load(self) -> bool:
        """Load the folder's single model file and mark the model ready.

        Returns:
            True once loaded.

        Raises:
            ModelFolderError: No model file, several, or ``joblib.load`` failed (for
                example because the pickle needs a module the runtime cannot import).
            ModelIntegrityError: The model file does not match ``metadata.json``.
        """
        self._model = load_model(self.model_dir, require_metadata=False).pipeline
        self.ready = True
        return self.ready

    def predict(self, payload: Any, headers: dict[str, str] | None = None) -> Any:
        """Answer a V1 dict or V2 ``InferRequest`` exactly as the stock runtime does.

        Args:
            payload: The decoded request (V1 dict or V2 ``InferRequest``).
            headers: The request headers (unused, as in the stock runtime).

        Returns:
            The V1 dict or V2 ``InferResponse`` built by ``get_predict_response``.

        Raises:
            InferenceError: Decoding or prediction failed (the server answers 500).
        """
        try:
            instances = get_predict_input(payload)
            switch = os.environ.get(PREDICT_PROBA_ENV, "false").lower()
            use_proba = switch == PREDICT_PROBA_ON
            if use_proba and hasattr(self._model, "predict_proba"):
                result = self._model.predict_proba(instances)
            else:
                result = self._model.predict(instances)
            return get_predict_response(payload, result, self.name)
        except Exception as exc:
            raise InferenceError(str(exc)) from exc


class _BoundModelServer(kserve.ModelServer):
    """A ``kserve.ModelServer`` whose REST server listens on a chosen address."""

    def __init__(self, *, host: str, **kwargs: Any):
        self._host = host
        super().__init__(**kwargs)

    def setup_event_loop(self) -> None:
        # kserve builds its RESTServer with host "0.0.0.0" inside start() and calls
        # this hook before uvicorn binds: the last moment to change the address.
        if self._rest_server is None:
            raise ServingError(
                "kserve's ModelServer built no single-process REST server to bind "
                f"to {self._host}."
            )
        self._rest_server.config.host = self._host
        super().setup_event_loop()


def serve(
    model_dir: str | os.PathLike[str],
    *,
    model_name: str,
    host: str = DEFAULT_HOST,
    http_port: int,
    grace_period_s: int = 10,
    predict_proba: bool | None = None,
) -> None:
    """Serve a model folder with kserve's ModelServer until the process is stopped.

    The model is loaded (and its hash checked) before the server starts, so a bad
    folder fails here with one sentence instead of starting an unready server.
    Like the stock runtime, the server reads ``PREDICT_PROBA`` from this process's
    environment; ``predict_proba`` sets it first.

    Args:
        model_dir: The local model folder (one model file plus ``metadata.json``).
        model_name: The name to serve under (``/v1/models/<model_name>:predict``,
            ``/v2/models/<model_name>/infer``).
        host: The address to listen on; ``127.0.0.1`` keeps the server local,
            ``0.0.0.0`` is for containers.
        http_port: The REST port.
        grace_period_s: Seconds in-flight requests get to finish on shutdown.
        predict_proba: True answers with ``predict_proba`` (the cluster's
            ``PREDICT_PROBA=true``), False with ``predict``; None keeps what the
            environment says.

    Raises:
        ModelFolderError: The folder cannot be served (see
            :func:`mlops_suite.model_folder.load_model`).
        ModelIntegrityError: The model file does not match ``metadata.json``.
    """
    model = SklearnRuntimeModel(model_name, model_dir)
    model.load()
    # What is loaded now (kserve, scikit-learn, the model) lives as long as the
    # server: frozen, the collector stops walking it at every full collection and at
    # exit, where that walk took about a second with these libraries loaded.
    gc.freeze()
    if predict_proba is not None:
        os.environ[PREDICT_PROBA_ENV] = PREDICT_PROBA_ON if predict_proba else "false"
    server = _BoundModelServer(
        host=host,
        http_port=http_port,
        workers=1,
        enable_grpc=False,
        grace_period=grace_period_s,
    )
    server.start([model])


def _exit_when_parent_dies(parent_pid: int) -> None:
    """Exit this server when the process that started it is gone."""

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent_pid:
                os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _main(argv: list[str] | None = None) -> int:
    """Entry point of a child server (:mod:`mlops_suite.serving.server_process`)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", required=True)
    parser.add_argument("--model-name", required=True)
    parser.add_argument("--http-port", type=int, required=True)
    parser.add_argument("--host", default=DEFAULT_HOST)
    parser.add_argument("--parent-pid", type=int, default=0)
    args = parser.parse_args(argv)
    if args.parent_pid:
        _exit_when_parent_dies(args.parent_pid)
    try:
        serve(
            args.model_dir,
            model_name=args.model_name,
            host=args.host,
            http_port=args.http_port,
        )
    except MlopsError as exc:
        print(f"{ERROR_MARKER}{exc}", file=sys.stderr, flush=True)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(_main())
