"""One SQLAlchemy engine per gradebook URL for the life of a grading worker.

nbgrader opens a new `Gradebook` (and with it a new engine) nine times a notebook, and an engine
keeps its compiled SQL in itself: every notebook compiled nbgrader's queries again (about 0.04 s
a notebook). Handing nbgrader's `create_engine` the same engine per URL keeps them compiled.
`Gradebook.close()` still disposes of the engine's connections each time, as nbgrader intends; a
forked child drops the parent's without closing them, as SQLAlchemy asks of forks. Each new
`Gradebook` also asks the database whether its tables exist (a dozen queries): once per engine is
enough, as nothing drops them while a worker grades.
"""
from __future__ import annotations

import os

import nbgrader.api
from sqlalchemy import create_engine

_ENGINES: dict[tuple, object] = {}


def _shared_engine(url, **kwargs):
    key = (str(url), tuple(sorted(kwargs.items())))
    engine = _ENGINES.get(key)
    if engine is None:
        engine = _ENGINES[key] = create_engine(url, **kwargs)
    return engine


_CHECKED: set = set()


def _create_all_once(create_all):
    def create_tables(bind=None, **kwargs):
        if bind is not None and bind in _CHECKED and not kwargs:
            return
        create_all(bind=bind, **kwargs)
        if bind is not None:
            _CHECKED.add(bind)
    create_tables.checks_once = True
    return create_tables


def _after_fork_in_child() -> None:
    for engine in _ENGINES.values():
        engine.dispose(close=False)  # the parent's connections are the parent's


def installed() -> bool:
    """Whether nbgrader's Gradebook reuses one engine per URL in this process (install())."""
    return nbgrader.api.create_engine is _shared_engine


def tables_checked(engine) -> bool:
    """Whether a Gradebook on engine has made sure of its tables: later ones skip the dozen queries."""
    return engine in _CHECKED


def install() -> None:
    """Make nbgrader's Gradebook reuse one engine per URL in this process (idempotent)."""
    if not installed():
        nbgrader.api.create_engine = _shared_engine
        metadata = nbgrader.api.Base.metadata
        if not getattr(metadata.create_all, "checks_once", False):
            metadata.create_all = _create_all_once(metadata.create_all)
        os.register_at_fork(after_in_child=_after_fork_in_child)
