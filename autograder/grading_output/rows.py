"""An assignment's CSV rows, derived again from the gradebook and the judge's verdicts (trusted side).

The score of every exercise is nbgrader's (a grader's manual score over the judge's); its status
is a function of that score, with the judge's word only where the score cannot tell:
passed at full marks; below them, error, timeout or missing when the verdict (or intake, or a
failed worker) said so, else failed. The message is the judge's (or the reason nothing could be
judged); `graded_by` says whose the score is, and a flag marks a grader's score or comment given
to an earlier notebook than the one graded last (manual_review.py)."""
from __future__ import annotations

from pathlib import Path

from . import class_record
from ..grading.status import UNJUDGED, Status
from ..pipeline.gradebook import store
from ..pipeline.intake import intake
from ..pipeline.gradebook import verdicts as verdict_records
from .manual_review import still_earlier
from .reports import RESUBMITTED, ExerciseRow


def exercise_status(score: float, max_score: float, said: str) -> Status:
    """passed at full marks; below them the verdict's error, timeout or missing, else failed."""
    if score >= max_score:
        return Status.PASSED
    return Status(said) if said in UNJUDGED else Status.FAILED


def _verdicts(out: Path, student: str, assignment: str,
              judged: dict[str, verdict_records.VerdictRecord]) -> dict[str, verdict_records.ExerciseVerdict]:
    """The judge's verdicts on the notebook graded last, {grade id: its verdict}: from `judged` when
    it holds the student, else from the record in OUT."""
    record = judged[student] if student in judged else verdict_records.read(out, student, assignment)
    return record.by_exercise() if record else {}


def rows(out: Path, assignment: str, db_url: str | None = None,
         judged: dict[str, verdict_records.VerdictRecord] | None = None) -> list[ExerciseRow]:
    """A row per student of the last run and exercise, from the gradebook; [] if OUT has no record of it.

    `judged`: {student: verdict record} a grading run holds (what its workers answered, or what it
    kept), used instead of reading those records again; `export` passes none and reads them all."""
    record = class_record.read(out, assignment)
    if record is None:
        return []
    db_url = db_url or class_record.gradebook_url(out, record)
    points = store.cell_points(db_url, assignment)
    submissions = store.submissions(db_url, assignment)
    sources = intake.read_sources(out, assignment)
    result = []
    for student, entry in sorted(record.students.items()):
        submission = submissions.get(student)
        verdicts = {} if entry.status else _verdicts(Path(out), student, assignment, judged or {})
        for exercise, max_score in sorted(points.items()):
            cell = submission.grades.get(exercise) if submission else None
            score = cell.score if cell else 0.0
            verdict = verdicts.get(exercise)
            if entry.status:
                said, message = entry.status, entry.message
            elif verdict:
                said, message = verdict.status, verdict.message
            else:
                said, message = "", "graded by nbgrader"
            function = (verdict.function if verdict else "") or exercise.removeprefix("test_")
            comment = submission.comments.get(function, "") if submission else ""
            manual = cell is not None and cell.manual_score is not None
            flagged = still_earlier(entry, exercise, cell.manual_score if cell else None) or \
                still_earlier(entry, function, comment or None)
            if manual:  # the message stays the judge's, said to be theirs: never read as the score's reason
                message = (f"scored by a grader{' for an earlier notebook' if flagged else ''}; the judge's verdict"
                           f"{' on this one' if flagged else ''}: {said or 'none'}: {message}")
            result.append(ExerciseRow(student, assignment, exercise, score, max_score,
                                      exercise_status(score, max_score, said), message, sources.get(student, ""),
                                      graded_by="grader" if manual else "judge", comment=comment,
                                      flag=RESUBMITTED if flagged else "",
                                      seconds_late=submission.seconds_late if submission else None))
    return result
