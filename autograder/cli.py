"""The `autograder` command: release, grade and demo."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from . import manifest as manifests
from .release import ReleaseError, generate


def course_root() -> Path:
    return manifests.course_root()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="gradcheck-autograder")
def main():
    """Release, grade and give feedback on the gradient-checking assignments (nbgrader course)."""


@main.command()
@click.argument("assignment", required=False)
def release(assignment):
    """Regenerate release/ASSIGNMENT from source/ (every assignment when none is named)."""
    root = course_root()
    names = [assignment] if assignment else manifests.available(root)
    for name in names:
        try:
            manifests.load(name, root)
            target = generate(name, root)
        except (ReleaseError, manifests.ManifestError) as exc:
            raise click.ClickException(str(exc))
        click.echo(f"released {name} -> {target.relative_to(root)}")


def _limits(manifest, time_limit, memory_mb):
    from .judge.sandbox import Limits
    return Limits(wall_seconds=time_limit or manifest.time_seconds, memory_mb=memory_mb or manifest.memory_mb)


def _run_grading(submissions: Path, assignment: str, out: Path, jobs, db, time_limit, memory_mb,
                 executor: str = "sandbox"):
    from .pipeline.grade import GradingError, grade
    from .pipeline.intake import IntakeError
    root = course_root()
    try:
        manifest = manifests.load(assignment, root)
        run = grade(submissions, assignment, out, jobs=jobs, db_url=db,
                    limits=_limits(manifest, time_limit, memory_mb), root=root, executor=executor)
    except (manifests.ManifestError, GradingError, IntakeError) as exc:
        raise click.ClickException(str(exc))
    click.echo("")
    click.echo(run.summary())
    for student, note in sorted(run.notes.items()):
        click.echo(f"note: {student}: {note}")
    problems = sorted({r.student_id for r in run.rows if r.status in ("error", "timeout") and r.message})
    click.echo(f"\nGraded {len({r.student_id for r in run.rows})} submissions in {run.seconds:.1f} s.")
    click.echo(f"  grades:       {run.grades_csv}")
    click.echo(f"  by exercise:  {run.exercises_csv}")
    click.echo(f"  feedback:     {run.out / 'feedback'}/<student>/{assignment}/")
    click.echo(f"  gradebook:    {db or run.out / 'gradebook.db'}")
    if problems:
        click.echo(f"  with errors or timeouts: {', '.join(problems)} (see the message column)")
    return run


@main.command()
@click.argument("submissions", type=click.Path(path_type=Path))
@click.option("--assignment", "-a", default="gradient_checking", show_default=True,
              help="Assignment name (a manifest in assignments/).")
@click.option("--out", "-o", type=click.Path(path_type=Path), default=Path("grading-output"), show_default=True,
              help="Folder for the gradebook, CSVs and feedback (the course root of this run).")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None,
              help="Submissions graded in parallel [default: number of cores].")
@click.option("--db", default=None, help="Gradebook as an SQLAlchemy URL [default: sqlite in --out].")
@click.option("--time-limit", type=click.FloatRange(min=1), default=None,
              help="Wall seconds per submission [default: the manifest's].")
@click.option("--memory-mb", type=click.IntRange(min=64), default=None,
              help="Memory per submission, MiB [default: the manifest's].")
@click.option("--executor", type=click.Choice(["sandbox", "kernel"]), default="sandbox", show_default=True,
              help="Run notebooks in the judge's confined child (fast) or in a Jupyter kernel as nbgrader does.")
def grade(submissions, assignment, out, jobs, db, time_limit, memory_mb, executor):
    """Grade SUBMISSIONS: a folder (nbgrader layout or <student_id>.ipynb files) or a .zip of either."""
    _run_grading(submissions, assignment, out, jobs, db, time_limit, memory_mb, executor)


@main.command()
@click.option("--out", "-o", type=click.Path(path_type=Path), default=Path("demo-output"), show_default=True,
              help="Where the demo writes its gradebook, CSVs and feedback.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None, help="Parallel workers [default: cores].")
def demo(out, jobs):
    """Grade the bundled sample submissions end to end (samples/<assignment>/)."""
    root = course_root()
    for assignment in manifests.available(root):
        samples = root / "samples" / assignment
        if not samples.is_dir():
            continue
        click.echo(f"== {assignment}: grading the samples in {samples.relative_to(root)} ==")
        # The demo's looping sample should not keep a newcomer waiting two minutes.
        _run_grading(samples, assignment, out / assignment, jobs, None, 20, None)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
