"""A grading run's settings, built once from the command line and the assignment's manifest (trusted side).

`RunSettings` is what every stage of a run reads (run/grade.py); its `worker()` is the part a
grading worker needs (workers/messages.WorkerSettings, handed over as one JSON argument). Frozen:
nothing along the way changes a setting.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ...course import manifest as manifests
from ...judge.sandbox import Limits
from ..workers.executor import job_count
from ..workers.messages import WorkerSettings

#: How a submission's notebook is run: in the judge's confined child, or in a Jupyter kernel.
EXECUTORS = ("sandbox", "kernel")


@dataclass(frozen=True)
class RunSettings:
    """Everything a grading run is asked to do, decided before it starts."""
    submissions: Path
    out: Path  # resolved; the course root of this run
    root: Path  # the course (source/, release/, assignments/)
    manifest: manifests.Manifest
    db_url: str  # without a password (gradebook.password_to_environment)
    limits: Limits
    jobs: int
    executor: str = "sandbox"
    roster: Path | None = None  # maps a Canvas or Moodle download to student ids (lms.py)
    regrade: bool = False  # grade every submission again, keep nothing of an earlier run
    clear_manual: bool = False  # clear a grader's scores given to an earlier notebook (manual_review.py)
    progress: bool = True  # a line per stage and a progress bar on stderr
    cluster: object = None  # a dask_security.ClusterSpec, or None for the local pool

    @property
    def assignment(self) -> str:
        return self.manifest.name

    @property
    def notebook(self) -> str:
        return self.manifest.notebook

    @property
    def release(self) -> Path:
        return self.root / "release" / self.assignment

    @property
    def hide(self) -> tuple[str, ...]:
        """What student code must not see: a classmate's notebook among the submissions, the roster."""
        return tuple(str(p) for p in [Path(self.submissions).resolve()]
                     + ([Path(self.roster).resolve()] if self.roster else []))

    def worker(self) -> WorkerSettings:
        """The settings of this run's grading workers."""
        return WorkerSettings(self.out, self.assignment, self.db_url, self.limits, self.executor, self.hide)

    @classmethod
    def build(cls, submissions: Path, assignment: str, out: Path, root: Path, *, jobs: int | None = None,
              db_url: str | None = None, limits: Limits | None = None, time_limit: float | None = None,
              memory_mb: int | None = None, **options) -> "RunSettings":
        """The settings of a run: the manifest read once; limits from `limits`, else --time-limit and
        --memory-mb over the manifest's; the gradebook's URL, else SQLite in OUT (its password moved
        to the environment); `out` as given (run/grade.py checks and resolves it first)."""
        from ..gradebook.store import password_to_environment, sqlite_url
        manifest = manifests.load(assignment, root)
        limits = limits or Limits(wall_seconds=time_limit or manifest.time_seconds,
                                  memory_mb=memory_mb or manifest.memory_mb)
        out = Path(out)
        db_url = password_to_environment(db_url or sqlite_url(out / "gradebook.db"))
        return cls(Path(submissions), out, Path(root), manifest, db_url, limits, job_count(jobs), **options)
