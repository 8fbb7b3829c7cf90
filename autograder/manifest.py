"""Assignment manifests (assignments/<name>.toml): title, due date, tolerances and limits."""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


class ManifestError(Exception):
    """A manifest is missing or malformed; the message names the file."""


@dataclass(frozen=True)
class Manifest:
    name: str
    title: str
    notebook: str
    due: str | None = None
    threshold: float = 1e-7
    reference_epsilons: tuple[float, ...] = (1e-4, 3e-5, 1e-5, 3e-6, 1e-6)
    time_seconds: float = 120.0
    memory_mb: int = 1024
    path: Path | None = field(default=None, compare=False)


def course_root() -> Path:
    """The course root: $AUTOGRADER_COURSE_ROOT, else the folder above this package."""
    env = os.environ.get("AUTOGRADER_COURSE_ROOT")
    return Path(env).resolve() if env else Path(__file__).resolve().parent.parent


def available(root: Path | None = None) -> list[str]:
    root = root or course_root()
    return sorted(p.stem for p in (root / "assignments").glob("*.toml"))


def load(name: str, root: Path | None = None) -> Manifest:
    """Read assignments/<name>.toml, with a clear error naming the file when it is wrong."""
    root = root or course_root()
    path = root / "assignments" / f"{name}.toml"
    if not path.is_file():
        known = ", ".join(available(root)) or "none"
        raise ManifestError(f"no manifest {path} for assignment {name!r} (known: {known})")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        a, g, lim = data.get("assignment", {}), data.get("grading", {}), data.get("limits", {})
        return Manifest(
            name=name, title=str(a.get("title", name)), notebook=str(a.get("notebook", name)),
            due=a.get("due"), threshold=float(g.get("threshold", 1e-7)),
            reference_epsilons=tuple(float(e) for e in g.get("reference_epsilons", Manifest.reference_epsilons)),
            time_seconds=float(lim.get("time_seconds", 120)), memory_mb=int(lim.get("memory_mb", 1024)),
            path=path)
    except (tomllib.TOMLDecodeError, TypeError, ValueError) as exc:
        raise ManifestError(f"{path}: {exc}; fix the file (see the comments in it)") from None
