"""A grading run's CSV rows come from what its workers answered (the verdict record each answer
carries, or the one a rerun kept) and the gradebook, never from reading the verdict files again;
`export`, run afterwards with no run at hand, reads the records and must derive the very same rows
and bytes. On both executors."""
import shutil
from pathlib import Path

import pytest

from autograder.grading.status import Status
from autograder.grading_output import export
from autograder.pipeline.gradebook import verdicts
from autograder.pipeline.run import grade as grading, resume
from autograder.pipeline.workers import dask_executor
from autograder.pipeline.workers.messages import Answer, outcome_for

from support import ROOT, SAMPLE_LIMITS

ASSIGNMENT = "gradient_checking"
SAMPLES = ROOT / "samples" / ASSIGNMENT
LIMITS = SAMPLE_LIMITS[ASSIGNMENT]
CSVS = ("scores.csv", "grades_by_exercise.csv")


@pytest.fixture
def record_reads(monkeypatch):
    """Every verdict record read in this process: [(path, whether resume read it to decide what to keep)]."""
    reads, resuming = [], []
    real_read, real_previous = verdicts.read_at, resume.previous_verdict

    def read_at(target):
        reads.append((Path(target).resolve(), bool(resuming)))
        return real_read(target)

    def previous_verdict(*args, **kwargs):
        resuming.append(True)
        try:
            return real_previous(*args, **kwargs)
        finally:
            resuming.pop()

    monkeypatch.setattr(verdicts, "read_at", read_at)
    monkeypatch.setattr(resume, "previous_verdict", previous_verdict)
    return reads


def assert_rows_from_answers(run, reads):
    """No verdict file of a student the run graded or kept was read but by resume; and `export`,
    reading the records afterwards, derives the run's rows and CSV bytes again."""
    records = {verdicts.path(run.out, s, ASSIGNMENT).resolve() for s in run.outcomes}
    assert not [p for p, by_resume in reads if p in records and not by_resume], \
        "the run read a verdict file again instead of using what its workers answered"
    written = {name: (run.out / name).read_bytes() for name in CSVS}
    again = export.export(run.out)
    assert again.rows[ASSIGNMENT] == run.rows
    assert {name: (run.out / name).read_bytes() for name in CSVS} == written


def statuses(run) -> set[str]:
    return {row.status for row in run.rows}


def test_a_pool_run_makes_its_rows_from_the_answers_and_export_derives_the_same(graded_samples, tmp_path,
                                                                                record_reads):
    """The samples graded once (passed, failed, error, timeout, an intake error), then again into a
    copy of that OUT with two new students: the rerun keeps most verdicts (resume reads each record
    once, to compare it), grades the timeout and the newcomers, and reads no record after that."""
    first = graded_samples(ASSIGNMENT)
    out, klass = tmp_path / "out", tmp_path / "class"
    shutil.copytree(first.out, out)
    shutil.copytree(SAMPLES, klass)
    shutil.copy(SAMPLES / "perfect.ipynb", klass / "zoe.ipynb")
    shutil.copy(SAMPLES / "bug_backprop_dW2.ipynb", klass / "yan.ipynb")
    record_reads.clear()
    run = grading.grade(klass, ASSIGNMENT, out, jobs=2, limits=LIMITS, progress=False)
    assert {"zoe", "yan", "never_finishes"} <= set(run.graded) and "perfect" in run.kept
    assert {Status.PASSED, Status.FAILED, Status.ERROR, Status.TIMEOUT} <= statuses(run)
    assert [r for r in run.rows if r.student_id == "zoe"] and all(
        r.status == Status.PASSED for r in run.rows if r.student_id == "zoe")
    assert any(by_resume for _, by_resume in record_reads), "the spy saw resume read no record"
    assert_rows_from_answers(run, record_reads)
    assert [(r.exercise, r.status, r.message) for r in run.rows if r.student_id == "zoe"] == \
        [(r.exercise, r.status, r.message) for r in first.rows if r.student_id == "perfect"]


def test_a_dask_run_makes_its_rows_from_the_answers_and_export_derives_the_same(tmp_path, record_reads):
    klass = tmp_path / "class"
    klass.mkdir()
    for sample in ("perfect", "bug_backprop_dW2", "not_json"):
        shutil.copy(SAMPLES / f"{sample}.ipynb", klass / f"{sample}.ipynb")
    run = grading.grade(klass, ASSIGNMENT, tmp_path / "out", jobs=1, limits=LIMITS, progress=False, cluster="local")
    assert_rows_from_answers(run, record_reads)
    assert sorted(run.graded) == ["bug_backprop_dW2", "perfect"]
    assert {Status.PASSED, Status.FAILED, Status.ERROR} <= statuses(run)
    for student in run.graded:  # the record the answer carried is the one written into OUT, marked complete
        assert verdicts.read(run.out, student, ASSIGNMENT) == run.outcomes[student].answer.record
        assert run.outcomes[student].answer.record.complete


class _NoRecord:
    """An executor whose workers all answer ok, yet carry no verdict record (the judge left none)."""

    def __init__(self, *args, **kwargs):
        pass

    def grade_all(self, tasks, on_done=None, still_running=None, alone=False):
        return {t.student: outcome_for(t.student, Answer(True, student=t.student), 0.1, 60) for t in tasks}

    def close(self):
        pass


@pytest.mark.parametrize("cluster", [None, "local"])
def test_an_ok_answer_without_a_record_is_an_error_row(tmp_path, monkeypatch, cluster):
    monkeypatch.setattr(grading, "LocalPool", _NoRecord)
    monkeypatch.setattr(dask_executor, "DaskCluster", _NoRecord)
    klass = tmp_path / "class"
    klass.mkdir()
    shutil.copy(SAMPLES / "perfect.ipynb", klass / "ann.ipynb")
    run = grading.grade(klass, ASSIGNMENT, tmp_path / "out", zygote=[], jobs=1, limits=LIMITS, progress=False,
                        cluster=cluster)
    assert not run.outcomes["ann"].ok
    assert {(r.status, r.message, r.score) for r in run.rows} == {(Status.ERROR, "the judge left no verdict", 0.0)}
    assert export.export(run.out).rows[ASSIGNMENT] == run.rows
