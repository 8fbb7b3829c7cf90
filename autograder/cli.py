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
                 executor: str = "sandbox", roster: Path | None = None, cluster: str | None = None):
    from .pipeline.grade import GradingError, grade
    from .pipeline.intake import IntakeError
    root = course_root()
    try:
        manifest = manifests.load(assignment, root)
        run = grade(submissions, assignment, out, jobs=jobs, db_url=db,
                    limits=_limits(manifest, time_limit, memory_mb), root=root, executor=executor,
                    roster=roster, cluster=cluster)
    except (manifests.ManifestError, GradingError, IntakeError) as exc:
        raise click.ClickException(str(exc))
    click.echo("")
    click.echo(run.summary())
    from .judge.sandbox import isolation_in_force
    if executor == "sandbox":
        click.echo("Isolation of student code: " + "; ".join(isolation_in_force()))
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
@click.option("--trusted", is_flag=True,
              help="Required with --executor kernel: the kernel runs under rlimits only, so a notebook there "
                   "could write to the gradebook. Only for a class whose code you trust.")
@click.option("--cluster", default=None, metavar="local|tcp://HOST:PORT",
              help="Grade on a Dask cluster: 'local' (worker processes on this machine, --jobs of them) or an "
                   "existing scheduler's address (SLURM, Kubernetes: see the README) [default: the local pool].")
@click.option("--roster", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="CSV mapping a Canvas or Moodle download to student ids: student_id and canvas_id, moodle_id, "
                   "lms_id or name.")
@click.option("--export", "--lms-export", "lms_export", type=click.Choice(["lms", "canvas", "moodle"]), default=None,
              help="Also write OUT/lms_grades.csv for the LMS's grade import (lms: Canvas or Moodle, as detected).")
@click.option("--lms-column", default=None,
              help="Canvas: the grade column's header, e.g. 'Gradient Checking (1234)' [default: the title].")
def grade(submissions, assignment, out, jobs, db, time_limit, memory_mb, executor, trusted, cluster, roster, lms_export,
          lms_column):
    """Grade SUBMISSIONS: a folder (nbgrader layout or <student_id>.ipynb files), a .zip of either, or a
    Canvas or Moodle submissions download (with --roster)."""
    if executor == "kernel" and not trusted:
        raise click.UsageError("--executor kernel runs student code in a Jupyter kernel that is not confined "
                               "(it could write to the gradebook); add --trusted if you trust this class's "
                               "code, or use the default sandbox executor")
    flavor = _lms_flavor(lms_export, roster, submissions) if lms_export else None
    run = _run_grading(submissions, assignment, out, jobs, db, time_limit, memory_mb, executor, roster=roster,
                       cluster=cluster)
    if flavor:
        _write_lms(run, flavor, roster, lms_column or manifests.load(assignment, course_root()).title)


def _lms_flavor(requested: str, roster: Path | None, submissions: Path) -> str:
    """canvas or moodle, decided before grading starts (a bad roster is reported at once)."""
    from .pipeline.lms import RosterError, read_roster
    from .pipeline.lms_export import ExportError, choose_flavor
    try:
        return choose_flavor(requested, read_roster(roster) if roster else None, submissions)
    except (RosterError, ExportError) as exc:
        raise click.ClickException(str(exc))


def _write_lms(run, flavor: str, roster: Path | None, column: str) -> None:
    from .pipeline.lms_export import write_lms_grades
    path, left_out = write_lms_grades(run.out, run.rows, flavor, roster, column)
    click.echo(f"  {flavor} import: {path}")
    if left_out:
        click.echo(f"  not in the roster, so not in {path.name}: {', '.join(left_out)}")


@main.command()
def sandbox():
    """Print the isolation student code gets on this machine."""
    from .judge.sandbox import isolation_in_force
    click.echo("Student code (notebook cells and judged calls) runs with:")
    for measure in isolation_in_force():
        click.echo(f"  - {measure}")


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


@main.command()
@click.argument("assignment")
@click.option("--out", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The zip to write [default: gradescope-ASSIGNMENT.zip].")
def gradescope(assignment, out):
    """Build ASSIGNMENT's Gradescope autograder zip (setup.sh, run_autograder, the judge, the points)."""
    from .gradescope.build import BuildError, build_zip
    try:
        path = build_zip(assignment, out, course_root())
    except (BuildError, manifests.ManifestError) as exc:
        raise click.ClickException(str(exc))
    click.echo(f"wrote {path}: upload it in Gradescope (Configure Autograder > Zip file upload)")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
