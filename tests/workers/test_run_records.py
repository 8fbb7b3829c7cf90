"""The typed records of a run: the verdict record, the worker messages and the run's settings."""
import json
from pathlib import Path

import pytest
from support import ROOT

from autograder.grading.status import Status
from autograder.judge.sandbox import Limits
from autograder.pipeline.gradebook import verdicts
from autograder.pipeline.run.settings import RunSettings
from autograder.pipeline.gradebook.verdicts import ExerciseVerdict, VerdictRecord
from autograder.pipeline.workers.dask_executor import store
from autograder.pipeline.workers.messages import RESULT_PREFIX, Answer, Graded, Stage, Task, WorkerSettings, outcome_for


def _record(**changes) -> VerdictRecord:
    fields = dict(student_id="ann", assignment="hw", notebook="hw", submission_sha256="abc", resume_key="k",
                  judge_seconds=1.5, exercises=(ExerciseVerdict("test_f", "f", Status.PASSED, "f passed", {"d": 1e-9}),
                                                ExerciseVerdict("test_g", "g", Status.ERROR, "g raised")),
                  cpu_seconds=0.5, child_cpu_seconds=0.25)
    return VerdictRecord(**{**fields, **changes})


def test_a_verdict_record_has_one_path_and_round_trips(tmp_path):
    record = _record()
    written = record.write(tmp_path)
    assert written == tmp_path / "verdicts" / "ann" / "hw.json" == verdicts.path(tmp_path, "ann", "hw")
    assert verdicts.read(tmp_path, "ann", "hw") == record
    assert not list(written.parent.glob("*.tmp"))  # written through a partial file, renamed
    data = json.loads(written.read_text())
    assert list(data) == ["student_id", "assignment", "notebook", "submission_sha256", "resume_key", "judge_seconds",
                          "exercises", "cell_errors", "skipped_cells", "cpu_seconds", "child_cpu_seconds", "wall_bound"]
    assert data["exercises"][1] == {"exercise": "test_g", "function": "g", "status": "error", "message": "g raised",
                                    "measured": {}}
    assert record.by_exercise()["test_f"].status is Status.PASSED


def test_marking_a_record_complete_keeps_the_rest(tmp_path):
    _record().write(tmp_path)
    verdicts.mark_complete(tmp_path, "ann", "hw")
    again = verdicts.read(tmp_path, "ann", "hw")
    assert again.complete and again == _record(complete=True)
    assert json.loads(verdicts.path(tmp_path, "ann", "hw").read_text())["complete"] is True
    verdicts.mark_complete(tmp_path, "bob", "hw")  # no record: nothing to mark
    assert not verdicts.exists(tmp_path, "bob", "hw")


@pytest.mark.parametrize("text", ["", "{not json", "[]", '{"exercises": 3}', '{"exercises": [{"status": "passed"}]}',
                                  '{"exercises": [{"exercise": "test_f", "status": "so-so"}]}'])
def test_a_record_that_cannot_be_read_reads_as_none(tmp_path, text):
    target = verdicts.path(tmp_path, "ann", "hw")
    target.parent.mkdir(parents=True)
    target.write_text(text)
    assert verdicts.read(tmp_path, "ann", "hw") is None
    assert verdicts.read(tmp_path, "nobody", "hw") is None


def test_a_record_the_machine_may_have_decided_is_not_resumable():
    assert _record().resumable()
    assert not _record(wall_bound=["f"]).resumable()
    assert not _record(skipped_cells={"3": "hung"}).resumable()
    assert not _record(exercises=(ExerciseVerdict("test_f", "f", Status.TIMEOUT, "slow"),)).resumable()
    assert not _record(exercises=(ExerciseVerdict("test_f", "f", Status.ERROR, "f could not be judged"),)).resumable()


def test_tasks_and_answers_cross_a_pipe_as_one_json_line():
    task = Task("ann", "abc", "k")
    assert Task.from_line(task.to_line()) == task and task.to_line().endswith("\n")
    answer = Answer(True, note="n", worker_pid=7)
    line = answer.to_line()
    assert line.startswith(RESULT_PREFIX) and Answer.from_line(line) == answer
    assert Answer.from_dict({"ok": False, "stage": "autograde", "unknown": 1}) == Answer(False, Stage.AUTOGRADE)


def test_an_answer_carries_the_verdict_record_the_judge_left_as_a_record():
    answer = Answer(True, student="ann", record=_record(complete=True, wall_bound=["f"]))
    again = Answer.from_line(answer.to_line())
    assert again == answer and isinstance(again.record, VerdictRecord)
    assert again.record.by_exercise()["test_g"].status is Status.ERROR
    assert Answer.from_line(Answer(True).to_line()).record is None  # the judge left none
    with pytest.raises((KeyError, TypeError, ValueError)):  # not a record: the worker's answer is refused
        Answer.from_dict({"ok": True, "record": {"exercises": [{"status": "so-so"}]}})


@pytest.mark.parametrize("feedback_written", [True, False])
def test_a_dask_result_is_stored_with_its_record_complete_only_when_its_feedback_was_written(tmp_path,
                                                                                           feedback_written):
    """The worker marks the record complete after the feedback page; one whose page failed stays
    incomplete in OUT (as on the local pool), so the next run grades that student again."""
    from nbgrader.api import Gradebook
    from autograder.pipeline.gradebook import store as gradebook
    url = gradebook.sqlite_url(tmp_path / "gradebook.db")
    gradebook.prepare(url, "hw")
    answer = Answer(True, record=_record(complete=feedback_written),
                    note="" if feedback_written else "its feedback page could not be written (x); its grades stand")
    with Gradebook(url) as gb:
        store(tmp_path, gb, "hw", "ann", Graded(answer, 1.0, rows={"notebooks": {}}))
    assert verdicts.read(tmp_path, "ann", "hw") == _record(complete=feedback_written)


def test_both_executors_word_an_outcome_alike():
    assert outcome_for("ann", Answer(True), 2.0, 60).ok
    timeout = outcome_for("ann", Answer.timed_out(), 61.0, 60)
    assert (timeout.status, timeout.message) == (Status.TIMEOUT, "grading did not finish within 60 s")
    failed = outcome_for("ann", Answer.failed(Stage.AUTOGRADE, "Traceback\nValueError: bad"), 1.0, 60)
    assert (failed.status, failed.message) == (Status.ERROR, "nbgrader could not grade this submission "
                                                             "(autograde): ValueError: bad")
    assert outcome_for("ann", Answer(False), 1.0, 60).message.endswith("(worker): no details")


def test_worker_settings_cross_a_command_line_as_one_argument(tmp_path):
    settings = WorkerSettings(tmp_path, "hw", "sqlite:///g.db", Limits(wall_seconds=20, memory_mb=512), "kernel",
                              ("/a", "/b"))
    assert WorkerSettings.from_json(settings.to_json()) == settings
    scratch = settings.for_course(tmp_path / "s", "sqlite:///s.db", [tmp_path])
    assert (scratch.course, scratch.db_url, scratch.hide) == (tmp_path / "s", "sqlite:///s.db", ("/a", "/b", str(tmp_path)))


def test_run_settings_read_the_manifest_once_and_the_command_line_over_it(tmp_path):
    root = ROOT
    settings = RunSettings.build(tmp_path / "class", "gradient_checking", tmp_path / "out", root, jobs=3,
                                 time_limit=20)
    assert (settings.assignment, settings.notebook, settings.jobs) == ("gradient_checking", "gradient_checking", 3)
    assert settings.limits.wall_seconds == 20 and settings.limits.memory_mb == settings.manifest.memory_mb
    assert settings.db_url == f"sqlite:///{(tmp_path / 'out' / 'gradebook.db').resolve()}?timeout=300"
    assert settings.worker().hide == (str((tmp_path / "class").resolve()),)
