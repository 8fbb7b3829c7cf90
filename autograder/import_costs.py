"""Imports every grading process would pay for at start-up and never use, left out or deferred.

Each grading process (the one running `grade`, every worker, every Dask worker) imports nbgrader
and nbformat; these two of their imports cost about 1.4 CPU seconds a process between them.
"""
from __future__ import annotations

import importlib
import sys
import types

_ARCHIVE_UTIL = "setuptools.archive_util"


def _real_archive_util() -> types.ModuleType:
    """Import the real setuptools.archive_util in the stand-in's place, once."""
    module = sys.modules.get(_ARCHIVE_UTIL)
    if isinstance(module, _DeferredArchiveUtil):
        del sys.modules[_ARCHIVE_UTIL]
        try:
            module = importlib.import_module(_ARCHIVE_UTIL)
        except BaseException:
            sys.modules.setdefault(_ARCHIVE_UTIL, _STAND_IN)
            raise
    return module


def _deferred(name: str):
    def call(*args, **kwargs):
        return getattr(_real_archive_util(), name)(*args, **kwargs)
    call.__name__ = call.__qualname__ = name
    call.__doc__ = f"setuptools.archive_util.{name}, imported on first call."
    return call


class _DeferredArchiveUtil(types.ModuleType):
    """Stands in for setuptools.archive_util until something uses it: nbgrader.utils imports three
    of its functions at start-up (for unzipping in nbgrader's exchange, which the kit never
    calls), and importing it imports setuptools and pkg_resources, about 0.2 CPU seconds."""

    unpack_archive = staticmethod(_deferred("unpack_archive"))
    unpack_tarfile = staticmethod(_deferred("unpack_tarfile"))
    unpack_zipfile = staticmethod(_deferred("unpack_zipfile"))

    def __getattr__(self, name):
        if name.startswith("__"):  # the import system's own questions (__path__, ...): not a use
            raise AttributeError(name)
        return getattr(_real_archive_util(), name)


_STAND_IN = _DeferredArchiveUtil(_ARCHIVE_UTIL)


def trim() -> None:
    """Install the omissions and stand-ins; imports already done are left as they are."""
    # nbformat validates with jsonschema, which imports rfc3987_syntax when it is installed
    # (jupyter pulls it in); that module compiles a grammar at import, about 1.2 CPU seconds, for
    # the "iri" format checks that no notebook schema uses. Without it, jsonschema has no iri checker.
    sys.modules.setdefault("rfc3987_syntax", None)
    if "setuptools" not in sys.modules:
        sys.modules.setdefault(_ARCHIVE_UTIL, _STAND_IN)
