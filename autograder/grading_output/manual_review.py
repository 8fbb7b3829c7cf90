"""A grader's manual scores and comments when a student hands in again (trusted side).

nbgrader keeps a manual score over every later autograde, so a grader's 2 / 3 would silently
outlive a resubmission the judge gives 3 / 3. Here it never goes unsaid: when the notebook graded
now is not the one graded last (class_record.StudentEntry.sha256) and the gradebook holds a
grader's score or comment for it, those are recorded as given to an earlier notebook. By default
they stand and are flagged (the CSVs, `grade`'s summary, the feedback page) until a grader
changes them in formgrader; `grade --clear-manual` clears them, so the judge's verdict stands."""
from __future__ import annotations

from ..pipeline.gradebook import store
from .class_record import ClassRecord, StudentEntry


def still_earlier(entry: StudentEntry, name: str, manual) -> bool:
    """Whether a grader's score or comment on cell `name` (None: none) is the one given to an earlier notebook."""
    earlier = entry.earlier_manual.get(name)
    if not earlier or manual is None:
        return False
    return earlier.get("manual_score", earlier.get("manual_comment")) == manual


def _current(submission: store.Submission | None, name: str, kind: str):
    if submission is None:
        return None
    if kind == "manual_score":
        grade = submission.grades.get(name)
        return grade.manual_score if grade else None
    return submission.comments.get(name)


def carry_over(previous: ClassRecord | None, db_url: str, assignment: str, sha256: dict[str, str],
               clear: bool = False) -> tuple[dict[str, dict[str, dict]], set[str]]:
    """({student: earlier_manual} for the students handed in now, the students whose were cleared);
    sha256: {student: hash of the file handed in}.

    A student's entry: what the last run recorded and is still unchanged in the gradebook, plus what a
    grader gave to the notebook graded last when this one differs. With `clear`, those are cleared
    in the gradebook and the student's entry is empty."""
    submissions = store.submissions(db_url, assignment)
    result, cleared = {}, set()
    for student, digest in sha256.items():
        before = previous.students.get(student) if previous else None
        submission = submissions.get(student)
        earlier = dict(before.earlier_manual) if before else {}
        if before is not None and before.sha256 != digest and submission is not None:
            earlier.update({name: {"manual_score": g.manual_score} for name, g in submission.grades.items()
                            if g.manual_score is not None})
            earlier.update({name: {"manual_comment": text} for name, text in submission.comments.items()})
        entry = StudentEntry(earlier_manual=earlier)
        earlier = {name: value for name, value in earlier.items()
                   if still_earlier(entry, name, _current(submission, name, next(iter(value))))}
        if clear and earlier:
            store.clear_manual(db_url, assignment, student, earlier)
            earlier = {}
            cleared.add(student)
        result[student] = earlier
    return result, cleared
