"""The rule KServe's sklearn server applies to every global a model file names.

Current KServe sklearn servers load ``model.joblib`` through a restricted unpickler
and refuse the model (``UnsafeArtifactError``) when the pickle names a global outside
this rule, unless the operator sets ``KSERVE_ALLOW_UNSAFE_DESERIALIZATION=true``:

- any *class* defined under ``sklearn``, ``numpy``, ``scipy``, ``pandas`` or
  ``joblib``;
- under those packages, functions only when they are numpy's reconstruction helpers
  (``_reconstruct``, ``scalar``, ``_frombuffer`` in ``numpy.core.multiarray`` or
  ``numpy._core.multiarray``; the ``numpy.random._pickle`` constructors; Cython's
  ``__pyx_unpickle_*`` and ``newObj``);
- outside them, the builtin container and scalar types (with ``object`` and
  ``range``), the ``collections`` types ``OrderedDict``, ``defaultdict``, ``Counter``
  and ``deque``, ``copyreg._reconstructor``/``__newobj__``/``__newobj_ex__`` and
  ``_codecs.encode``.

Everything else (``numpy.asarray``, a lambda, a class of this package) is refused.
This module is our own implementation of that rule, written from its description, so
infra validation can refuse what the cluster would refuse before it gets there, and
``mlops registry`` can mark registered versions the cluster would refuse. It reads the
file with joblib's unpickler and stops at the first refused global, before that
global is called.
"""

from __future__ import annotations

import importlib
import os
import pickle
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from joblib.numpy_pickle import NumpyUnpickler

# joblib's own file opener (it undoes joblib's compression); private, so joblib is
# pinned in constraints.txt and the rule's tests load real joblib files.
from joblib.numpy_pickle_utils import _validate_fileobject_and_memmap

from mlops_suite.artifacts import MODEL_FILE
from mlops_suite.errors import RegistryError

if TYPE_CHECKING:
    from mlops_suite.registry import ModelRegistry

TRUSTED_PACKAGES = ("sklearn", "numpy", "scipy", "pandas", "joblib")
_RECONSTRUCTION_MODULES = ("numpy.core.multiarray", "numpy._core.multiarray")
_RECONSTRUCTION_HELPERS = ("_reconstruct", "scalar", "_frombuffer")
# numpy defines _frombuffer in its numeric module, not in multiarray; protocol-5
# pickles of arrays name it there (joblib writes object arrays, such as a boosting
# model's trees, as such a pickle), so the helper is allowed where it really lives.
_FROMBUFFER_MODULES = ("numpy.core.numeric", "numpy._core.numeric")
_BUILTIN_TYPES = (
    "bool",
    "bytearray",
    "bytes",
    "complex",
    "dict",
    "float",
    "frozenset",
    "int",
    "list",
    "object",
    "range",
    "set",
    "slice",
    "str",
    "tuple",
)
_COLLECTIONS = ("Counter", "OrderedDict", "defaultdict", "deque")
_OTHER_ALLOWED = {
    ("copyreg", "_reconstructor"),
    ("copyreg", "__newobj__"),
    ("copyreg", "__newobj_ex__"),
    ("_codecs", "encode"),
}


class RefusedGlobal(Exception):
    """A model file names a global KServe's sklearn server refuses to unpickle."""

    def __init__(self, module: str, name: str) -> None:
        super().__init__(f"{module}.{name}")
        self.module = module
        self.name = name


def allows(module: str, name: str, obj: Any = None) -> bool:
    """Whether the rule lets a pickle name ``module.name``.

    Args:
        module: The global's module, as the pickle names it.
        name: The global's (possibly dotted) name in that module.
        obj: The object it resolves to, when known; a global under a trusted package
            is allowed only if it is a class or a reconstruction helper.

    Returns:
        True when KServe's sklearn server would load it.
    """
    package = module.split(".", 1)[0]
    if package in TRUSTED_PACKAGES:
        if module in _RECONSTRUCTION_MODULES and name in _RECONSTRUCTION_HELPERS:
            return True
        if module in _FROMBUFFER_MODULES and name == "_frombuffer":
            return True
        if module == "numpy.random._pickle":
            return True
        if name.startswith("__pyx_unpickle_") or name == "newObj":
            return True
        return isinstance(obj, type)
    if module == "builtins":
        return name in _BUILTIN_TYPES
    if module == "collections":
        return name in _COLLECTIONS
    return (module, name) in _OTHER_ALLOWED


class _RuleUnpickler(NumpyUnpickler):
    """joblib's unpickler that refuses, before resolving it, any global off the rule."""

    def find_class(self, module: str, name: str) -> Any:
        # Cython names its modules briefly ("_loss" for sklearn._loss._loss) and
        # registers them under that name too: judge the module by its real name.
        loaded = sys.modules.get(module)
        canonical = getattr(loaded, "__name__", module) if loaded else module
        package = canonical.split(".", 1)[0]
        obj = None
        if package in TRUSTED_PACKAGES or canonical == "collections":
            # Importing a trusted package runs no code from the model file; the object
            # is needed to tell a class from a function.
            try:
                obj = _resolve(module, name)
            except (ImportError, AttributeError):
                obj = None
        if not allows(canonical, name, obj):
            raise RefusedGlobal(module, name)
        return super().find_class(module, name)


def _resolve(module: str, name: str) -> Any:
    found: Any = importlib.import_module(module)
    for part in name.split("."):
        found = getattr(found, part)
    return found


def refused_global(model_file: str | os.PathLike[str]) -> str | None:
    """The first global in a joblib model file that the rule refuses.

    Args:
        model_file: A file written with ``joblib.dump`` (compressed or not).

    Returns:
        ``module.name`` of the first refused global, or None when the whole file
        passes the rule.

    Raises:
        OSError: The file cannot be read.
        pickle.UnpicklingError, EOFError, ValueError: The file is not a joblib pickle.
    """
    path = Path(model_file)
    with open(path, "rb") as handle:
        with _validate_fileobject_and_memmap(handle, str(path), None) as (stream, _):
            try:
                _RuleUnpickler(str(path), stream, True).load()
            except RefusedGlobal as refused:
                return str(refused)
    return None


def registered_refusal(registry: ModelRegistry, name: str, version: int) -> str | None:
    """The first global of a registered version's model file that the rule refuses.

    The rule reads a verified copy of the file (its sha256 checked against the
    registry's record), made in a temporary folder that is removed afterwards, so
    local and object-store registries are checked alike.

    Args:
        registry: The registry holding the version.
        name: The model name.
        version: The version number.

    Returns:
        ``module.name`` of the first refused global, or None when the version loads
        in KServe's sklearn server as it is.

    Raises:
        RegistryError: The version does not exist, cannot be read, or its model file
            is not a joblib pickle.
        ModelIntegrityError: The model file does not match its recorded sha256.
    """
    with tempfile.TemporaryDirectory(prefix=f"{name}-v{version}-rule-") as scratch:
        model_file = Path(registry.fetch(name, version, dest=scratch)) / MODEL_FILE
        try:
            return refused_global(model_file)
        except (OSError, pickle.UnpicklingError, EOFError, ValueError) as exc:
            raise RegistryError(
                f"The model file of {name} v{version} in registry {registry.uri} "
                f"cannot be read as a joblib pickle ({type(exc).__name__}: {exc})."
            ) from None
