"""The `autograder` command: release, grade, demo, formgrader, and nbgrader and the tests with the kit's environment.

Everything it prints that came from a submission (ids, file names, notes, messages) goes
through untrusted_text.printable first: a name can hold terminal escape sequences."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from .course import manifest as manifests
from .course import samples
from .course.release import ReleaseError, generate


#: Set by ./kit: its own folder, the course when the current folder is in none.
KIT_COURSE_ENV = "AUTOGRADER_KIT_COURSE"


def course_root() -> Path:
    """The course this command works on, as nbgrader finds its own: --course DIR (or
    $AUTOGRADER_COURSE_ROOT), else the current folder or its nearest parent holding nbgrader_config.py
    and assignments/, else (run through ./kit) the kit's own folder. Never the folder the kit happens
    to be installed in. Exported, so the grading workers work on the same course."""
    found = os.environ.get(manifests.COURSE_ENV) or manifests.find_course(Path.cwd()) or \
        os.environ.get(KIT_COURSE_ENV)
    if not found:
        raise click.ClickException(f"{Path.cwd()} is not in a course (no folder here or above holds "
                                   f"{manifests.COURSE_CONFIG} and {manifests.ASSIGNMENTS}/): cd to the course, or "
                                   "pass --course DIR")
    os.environ[manifests.COURSE_ENV] = str(Path(found).resolve())
    return manifests.course_root()


def _use_course(ctx, param, value):
    if value is not None:
        if not (value / manifests.COURSE_CONFIG).is_file():
            raise click.BadParameter(f"{value} holds no {manifests.COURSE_CONFIG}: not an nbgrader course")
        os.environ[manifests.COURSE_ENV] = str(value.resolve())
    return value


EPILOG = """\b
The ./kit script in the course root wraps this command: on first use it creates .venv and
installs the kit, then `./kit ARGS` runs `autograder ARGS` with .venv/bin on PATH.
  ./kit demo                 grade the bundled samples end to end
  ./kit test [PYTEST ARGS]   run the kit's test suite
  ./kit nbgrader ARGS        run nbgrader with the kit's environment, in the current folder,
                             e.g. cd grading-output && ../kit nbgrader export
"""


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, epilog=EPILOG)
@click.version_option(package_name="gradcheck-autograder")
@click.option("--course", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              expose_value=False, is_eager=True, callback=_use_course,
              help="The course root [default: the current folder or the nearest parent holding nbgrader_config.py "
                   "and assignments/].")
def main():
    """Release, grade and give feedback on the course's assignments (an nbgrader course)."""


def _say(message: str) -> None:
    click.echo(message, err=True)


@main.command()
@click.argument("assignment", required=False)
def release(assignment):
    """Regenerate release/ASSIGNMENT from source/, and its samples from their recipes (every assignment
    when none is named)."""
    root = course_root()
    names = [assignment] if assignment else manifests.available(root)
    for name in names:
        try:
            manifests.load(name, root)
            target = generate(name, root, say=_say)
            built = samples.write(name, root)
        except (ReleaseError, manifests.ManifestError) as exc:
            raise click.ClickException(str(exc))
        click.echo(f"released {name} -> {target.relative_to(root)}"
                   + (f"; samples -> {built.relative_to(root)}" if built else ""))


@main.command()
@click.argument("name")
@click.option("--title", default=None, help="The assignment's title [default: from NAME].")
def new(name, title):
    """Create assignment NAME: a manifest, a grader, a source notebook with one exercise, its visible
    test and two samples; then release it. Edit assignments/NAME/ and source/NAME/ from there."""
    from .course.scaffold import ScaffoldError, create
    root = course_root()
    try:
        written = create(name, root, title)
        target = generate(name, root)
        built = samples.write(name, root)
    except (ScaffoldError, ReleaseError, manifests.ManifestError) as exc:
        raise click.ClickException(str(exc))
    for path in written:
        click.echo(f"created {path.relative_to(root)}")
    click.echo(f"released {name} -> {target.relative_to(root)}; samples -> {built.relative_to(root)}")
    click.echo(f"Next: edit source/{name}/{name}.ipynb and assignments/{name}/grader/, then ./kit release {name} "
               f"and ./kit test tests/course/test_assignments.py -k {name} (docs/new-assignment.md).")


def _run_grading(submissions: Path, assignment: str, out: Path, jobs, db, time_limit, memory_mb,
                 executor: str = "sandbox", roster: Path | None = None, regrade: bool = False,
                 cluster=None, clear_manual: bool = False):
    """Grade, the run's settings read once (run.settings.RunSettings) before anything starts or is made."""
    from .pipeline.run.grade import GradingError, settings_for
    from .pipeline.intake.problems import IntakeError
    from .pipeline.gradebook.store import GradebookError
    from .pipeline.workers.pool import zygote_for_run
    from .untrusted_text import printable
    try:
        settings = settings_for(submissions, assignment, out, course_root(), jobs=jobs, db_url=db,
                                time_limit=time_limit, memory_mb=memory_mb, executor=executor, roster=roster,
                                regrade=regrade, cluster=cluster, clear_manual=clear_manual)
    except (GradingError, IntakeError) as exc:
        raise click.ClickException(printable(str(exc)))
    except (manifests.ManifestError, GradebookError) as exc:
        raise click.ClickException(printable(str(exc), keep_newlines=True))
    # The zygote loads numpy and matplotlib while this process imports nbgrader.
    with zygote_for_run(settings.jobs, settings.executor, settings.cluster) as zygote:
        return _grade_and_report(settings, zygote, db)


def _grade_and_report(settings, zygote, db):
    from .pipeline.run.grade import GradingError, run as run_grading
    from .pipeline.intake.problems import IntakeError
    from .pipeline.gradebook.store import GradebookError, redacted
    from .grading.status import Status
    from .untrusted_text import printable
    try:
        run = run_grading(settings, zygote)
    except (manifests.ManifestError, GradingError, IntakeError, GradebookError) as exc:
        raise click.ClickException(printable(str(exc), keep_newlines=True))
    click.echo("")
    click.echo(printable(run.summary(), keep_newlines=True))
    from .judge.sandbox import isolation_in_force
    if settings.executor == "sandbox":
        click.echo("Isolation of student code: " + "; ".join(isolation_in_force()))
    from .grading_output.guard import open_to_others
    for warning in open_to_others({"OUT": settings.out, "source/": settings.root / "source"}):
        click.echo(f"WARNING: {warning}")
    for student, note in sorted(run.notes.items()):
        click.echo(f"note: {printable(student)}: {printable(note)}")
    problems = sorted({printable(r.student_id) for r in run.rows
                       if r.status in (Status.ERROR, Status.TIMEOUT) and r.message})
    click.echo(f"\nDone in {run.seconds:.1f} s: {run.counts()}.")
    click.echo(f"  scores:       {run.grades_csv}")
    click.echo(f"  by exercise:  {run.exercises_csv}")
    click.echo(f"  feedback:     {run.out / 'feedback'}/<student>/{settings.assignment}/")
    click.echo(f"  gradebook:    {redacted(db) if db else run.out / 'gradebook.db'}  (nbgrader's own commands: "
               f"cd {run.out} && {course_root() / 'kit'} nbgrader export, ...)")
    if problems:
        click.echo(f"  with errors or timeouts: {', '.join(problems)} (see the message column)")
    return run


@main.command()
@click.argument("submissions", type=click.Path(path_type=Path))
@click.option("--assignment", "-a", default=None,
              help="Assignment name (a folder of assignments/) [default: the one due first].")
@click.option("--out", "-o", type=click.Path(path_type=Path), default=Path("grading-output"), show_default=True,
              help="Folder for the gradebook, CSVs and feedback (the course root of this run).")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None,
              help="Submissions graded in parallel [default: number of cores].")
@click.option("--db", default=None, help="Gradebook as an SQLAlchemy URL [default: sqlite in --out].")
@click.option("--time-limit", type=click.FloatRange(min=1), default=None,
              help=f"{manifests.TIME_LIMIT_WORDS} [default: the manifest's time_seconds].")
@click.option("--memory-mb", type=click.IntRange(min=64), default=None,
              help="Memory per submission, MiB [default: the manifest's].")
@click.option("--executor", type=click.Choice(["sandbox", "kernel"]), default="sandbox", show_default=True,
              help="Run notebooks in the judge's confined child (fast) or in a Jupyter kernel as nbgrader does.")
@click.option("--trusted", is_flag=True,
              help="Required with --executor kernel: the kernel runs under rlimits only, so a notebook there "
                   "could write to the gradebook. Only for a class whose code you trust.")
@click.option("--cluster", default=None, metavar="local|tls://HOST:PORT",
              help="Grade on a Dask cluster: 'local' (worker processes on this machine, --jobs of them, on TLS "
                   "with credentials made for the run) or an existing scheduler's tls:// address (SLURM, "
                   "Kubernetes: see docs/cluster.md) [default: the local pool].")
@click.option("--tls-ca-file", default=None, metavar="FILE",
              help="With --cluster tls://: the cluster's CA certificate [default: Dask's setting "
                   "distributed.comm.tls.ca-file].")
@click.option("--tls-cert", default=None, metavar="FILE",
              help="With --cluster tls://: your client certificate (the key may follow it in the same file) "
                   "[default: distributed.comm.tls.client.cert].")
@click.option("--tls-key", default=None, metavar="FILE",
              help="With --cluster tls://: your client key [default: distributed.comm.tls.client.key].")
@click.option("--insecure-cluster", is_flag=True,
              help="Allow --cluster tcp://: neither authenticated nor encrypted, so anyone who reaches the "
                   "scheduler can run code on its workers. Only on a network whose every user you trust.")
@click.option("--roster", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="CSV mapping a Canvas or Moodle download to student ids: student_id and canvas_id, moodle_id, "
                   "lms_id or name.")
@click.option("--export", "--lms-export", "lms_export", type=click.Choice(["lms", "canvas", "moodle"]), default=None,
              help="Also write OUT/lms_grades_ASSIGNMENT.csv for the LMS's grade import (lms: Canvas or Moodle, as "
                   "detected); `autograder export` writes it again.")
@click.option("--lms-column", default=None,
              help="Canvas: the grade column's header, e.g. 'Gradient Checking (1234)' [default: the title].")
@click.option("--regrade", is_flag=True,
              help="Grade every submission again [default: keep the verdicts of notebooks unchanged since the "
                   "last run in OUT, when the limits, manifest, release and kit are unchanged too].")
@click.option("--clear-manual", is_flag=True,
              help="For a student who handed in again: clear a grader's scores and comments given to the earlier "
                   "notebook, so the judge's verdict stands [default: keep them and flag them].")
def grade(submissions, assignment, out, jobs, db, time_limit, memory_mb, executor, trusted, cluster, tls_ca_file,
          tls_cert, tls_key, insecure_cluster, roster, lms_export, lms_column, regrade, clear_manual):
    """Grade SUBMISSIONS: a folder (nbgrader layout or <student_id>.ipynb files), a .zip of either, or a
    Canvas or Moodle submissions download (with --roster)."""
    cluster = _cluster_spec(cluster, tls_ca_file, tls_cert, tls_key, insecure_cluster)
    if executor == "kernel" and not trusted:
        raise click.UsageError("--executor kernel runs student code in a Jupyter kernel that is not confined "
                               "(it could write to the gradebook); add --trusted if you trust this class's "
                               "code, or use the default sandbox executor")
    assignment = assignment or _due_first()
    flavor = _lms_flavor(lms_export, roster, submissions) if lms_export and submissions.exists() else None
    run = _run_grading(submissions, assignment, out, jobs, db, time_limit, memory_mb, executor, roster=roster,
                       regrade=regrade, cluster=cluster, clear_manual=clear_manual)
    if flavor:
        _write_lms(run, flavor, roster, lms_column or run.settings.manifest.title)


def _cluster_spec(cluster, ca_file, cert, key, insecure):
    """--cluster and its TLS options, checked before anything starts (dask_security.ClusterSpec)."""
    if not cluster:
        if ca_file or cert or key or insecure:
            raise click.UsageError("--tls-ca-file, --tls-cert, --tls-key and --insecure-cluster go with --cluster")
        return None
    from .pipeline.workers.dask_security import ClusterError, ClusterSpec
    try:
        return ClusterSpec(cluster, ca_file, cert, key, insecure)
    except ClusterError as exc:
        raise click.UsageError(str(exc)) from None


def _due_first() -> str:
    """The course's assignment with the earliest due date (those without one come last)."""
    root = course_root()
    try:
        loaded = [manifests.load(name, root) for name in manifests.available(root)]
    except manifests.ManifestError as exc:
        raise click.ClickException(str(exc))
    if not loaded:
        raise click.ClickException(f"no assignments in {root / manifests.ASSIGNMENTS}: add one with `autograder new NAME`")
    return min(loaded, key=lambda m: (m.due is None, m.due or "", m.name)).name


def _lms_flavor(requested: str, roster: Path | None, submissions: Path) -> str:
    """canvas or moodle, decided before grading starts (a bad roster is reported at once)."""
    from .pipeline.intake.lms import RosterError, read_roster
    from .grading_output.lms_export import ExportError, choose_flavor
    try:
        return choose_flavor(requested, read_roster(roster) if roster else None, submissions)
    except (RosterError, ExportError) as exc:
        raise click.ClickException(str(exc))


def _write_lms(run, flavor: str, roster: Path | None, column: str) -> None:
    from .grading_output.export import write_lms
    _said_lms(flavor, *write_lms(run.out, run.assignment, run.rows, flavor, roster, column))


def _said_lms(flavor: str, path: Path, left_out: list[str]) -> None:
    click.echo(f"  {flavor} import: {path}")
    if left_out:
        from .untrusted_text import printable
        click.echo(f"  not in the roster, so not in {path.name}: {', '.join(printable(s) for s in left_out)}")


@main.command("export")
@click.argument("out", type=click.Path(file_okay=False, path_type=Path), default=Path("grading-output"))
@click.option("--assignment", "-a", default=None, help="Write only this assignment's LMS file [default: every one].")
@click.option("--db", default=None, help="Gradebook as an SQLAlchemy URL [default: the one `grade` used].")
@click.option("--lms-export", type=click.Choice(["lms", "canvas", "moodle"]), default=None,
              help="Also write OUT/lms_grades_ASSIGNMENT.csv for this LMS [default: as `grade --export` asked].")
@click.option("--roster", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="The roster for the LMS file [default: the one `grade` used].")
@click.option("--lms-column", default=None, help="Canvas: the grade column's header [default: as before, or the title].")
def export_(out, assignment, db, lms_export, roster, lms_column):
    """Write every CSV in OUT again from the gradebook, a grader's manual scores and comments included:
    run it after reviewing in formgrader, before uploading the LMS file."""
    from .grading_output.export import ExportError, export
    from .pipeline.gradebook.store import GradebookError, password_to_environment
    from .pipeline.intake.lms import RosterError
    from .grading_output.lms_export import ExportError as LmsError
    from .grading_output.reports import summary
    from .untrusted_text import printable
    lms = None
    try:
        if lms_export or roster or lms_column:
            lms = {"flavor": _lms_flavor(lms_export, roster, None) if lms_export else None, "roster": roster,
                   "column": lms_column}
        done = export(out, assignment, password_to_environment(db) if db else None, lms)
    except (ExportError, GradebookError, RosterError, LmsError) as exc:
        raise click.ClickException(printable(str(exc)))
    for name, rows in done.rows.items():
        click.echo(f"== {name} ==\n{printable(summary(rows), keep_newlines=True)}")
    click.echo(f"\n  scores:       {done.scores_csv}\n  by exercise:  {done.exercises_csv}")
    for flavor, path, left_out in done.lms.values():
        _said_lms(flavor, path, left_out)


@main.command()
@click.argument("source", metavar="SUBMISSIONS|OUT", type=click.Path(exists=True, path_type=Path))
@click.option("--assignment", "-a", default=None, help="Assignment name [default: the one due first].")
@click.option("--known", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="A folder of known solutions (last term's class, public copies): any notebooks below it.")
@click.option("--out", "-o", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for similarity.html and similarity.csv [default: OUT/similarity, else ./similarity-report].")
def similarity(source, assignment, known, out):
    """Which students share more code than the assignment makes them share: pairs and groups ranked by
    evidence, for the instructor (see docs/similarity.md). Student code is parsed, never run."""
    from .pipeline.intake.problems import IntakeError
    from .pipeline.workers.pool import job_count
    from .similarity.compare import compare
    from .similarity.corpus import graded_folder
    from .similarity.exercises import ExerciseError
    from .similarity.report import ReportError, write_report
    assignment = assignment or _due_first()
    out = out or (source / "similarity" if source.is_dir() and graded_folder(source) else Path("similarity-report"))
    try:
        result = compare(source, assignment, course_root(), known, jobs=job_count(None))
        page, table = write_report(result, out)
    except (manifests.ManifestError, ExerciseError, IntakeError, ReportError) as exc:
        raise click.ClickException(str(exc))
    click.echo(f"{len(result.corpus.entries)} notebooks compared; {len(result.flagged)} pairs flagged for review, "
               f"in {len(result.groups)} groups (evidence to review, not a verdict).")
    click.echo(f"  report: {page}\n  table:  {table}")


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
        folder = root / samples.SAMPLES / assignment
        if not folder.is_dir():
            continue
        click.echo(f"== {assignment}: grading the samples in {folder.relative_to(root)} ==")
        # The demo's looping sample should not keep a newcomer waiting two minutes.
        _run_grading(folder, assignment, out / assignment, jobs, None, 20, None)


@main.command("feedback-bundle")
@click.argument("out", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--assignment", "-a", default=None,
              help="Assignment name [default: every assignment with feedback pages in OUT].")
@click.option("--roster", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="The roster `grade` had (student_id, moodle_id, name): who is which Moodle participant.")
def feedback_bundle(out, assignment, roster):
    """Write what an LMS takes back into OUT/feedback-bundle/ASSIGNMENT/: a zip per student (their
    pages: one self-contained file each) and Moodle's "upload multiple feedback files in a zip"."""
    from .pipeline.feedback.bundle import BundleError, write_bundle
    from .pipeline.intake.lms import RosterError
    feedback = out / "feedback"
    names = [assignment] if assignment else sorted(
        {p.parent.name for p in feedback.glob("*/*/*.html")} if feedback.is_dir() else set())
    if not names:
        raise click.ClickException(f"no feedback pages in {feedback}; grade a class into {out} first")
    for name in names:
        try:
            bundle = write_bundle(out, name, roster)
        except (BundleError, RosterError) as exc:
            raise click.ClickException(str(exc))
        click.echo(f"{name}: {len(bundle.students)} student zips in {bundle.folder / 'students'}")
        if bundle.moodle:
            click.echo(f"  Moodle (Grading > Upload multiple feedback files in a zip): {bundle.moodle}")
        if bundle.moodle and bundle.not_in_moodle:
            click.echo(f"  not Moodle participants (not in the roster's moodle_id): {', '.join(bundle.not_in_moodle)}")


@main.command()
@click.argument("assignment")
@click.option("--out", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The zip to write [default: gradescope-output/gradescope-ASSIGNMENT.zip, ignored by git].")
def gradescope(assignment, out):
    """Build ASSIGNMENT's Gradescope autograder zip (setup.sh, run_autograder, the judge, the points)."""
    from .gradescope.build import BuildError, build_zip
    try:
        path = build_zip(assignment, out, course_root())
    except (BuildError, manifests.ManifestError) as exc:
        raise click.ClickException(str(exc))
    click.echo(f"wrote {path}: upload it in Gradescope (Configure Autograder > Zip file upload)")


PASS_THROUGH = {"context_settings": {"ignore_unknown_options": True, "allow_extra_args": True,
                                    "help_option_names": []}}


@main.command(**PASS_THROUGH)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def nbgrader(args):
    """Run nbgrader ARGS with the kit's environment (its python, alembic on PATH) in the current folder.

    In a grading output folder: `nbgrader export` (writes grades.csv beside the kit's scores.csv),
    `nbgrader db student list`, `nbgrader generate_feedback`, ..."""
    import subprocess
    from .nbgrader_env import with_python_bin
    sys.exit(subprocess.call([sys.executable, "-m", "nbgrader", *args], env=with_python_bin()))


@main.command(**PASS_THROUGH)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def test(args):
    """Run the kit's test suite (pytest ARGS in the course root), e.g. `test tests/intake/test_lms.py -x -q`."""
    import subprocess
    from .nbgrader_env import with_python_bin
    sys.exit(subprocess.call([sys.executable, "-m", "pytest", "-n", "auto", "--dist", "loadfile", *args], cwd=course_root(), env=with_python_bin()))


@main.command()
@click.argument("out", type=click.Path(file_okay=False, path_type=Path), default=Path("grading-output"))
@click.option("--port", type=click.IntRange(min=0, max=65535), default=0, help="Port [default: a free one].")
@click.option("--ip", default="127.0.0.1", show_default=True, help="Address to listen on.")
def formgrader(out, port, ip):
    """Review and manually grade OUT (a folder `grade` wrote) in nbgrader's formgrader, in a browser."""
    from .formgrader.launch import FormgraderError, serve
    try:
        sys.exit(serve(out, port or None, ip, lambda text: click.echo(text, err=True)))
    except FormgraderError as exc:
        raise click.ClickException(str(exc))


def run() -> None:
    """The `autograder` command as installed: `main`, then exit at once with its status.

    Everything a command writes is written, closed or committed before it returns; what is left is
    the interpreter's teardown of some 1,600 modules, 0.3 to 0.8 s that a shell or a benchmark
    would wait for. A crash (any exception but SystemExit) still ends the normal way."""
    from .process_exit import exit_now
    try:
        main()  # standalone: ends by raising SystemExit with the status
    except SystemExit as done:
        status = done.code
    else:
        status = 0
    if status is not None and not isinstance(status, int):
        print(status, file=sys.stderr)
        status = 1
    exit_now(status or 0)


if __name__ == "__main__":  # pragma: no cover
    run()
