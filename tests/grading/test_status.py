"""The status type: one list of statuses, each written as the word it always was."""
import csv
import io
import json

from autograder.course.samples import STATUSES
from autograder.grading.status import FAILING, UNJUDGED, VERDICTS, Status


def test_a_status_is_its_word_everywhere_it_is_written():
    assert Status.ERROR == "error" and Status("timeout") is Status.TIMEOUT
    assert f"{Status.PASSED}" == str(Status.PASSED) == "passed"
    assert json.dumps({"status": Status.MISSING}) == '{"status": "missing"}'
    buffer = io.StringIO()
    csv.writer(buffer).writerow([Status.FAILED, "x"])
    assert buffer.getvalue() == "failed,x\r\n"


def test_every_status_has_a_meaning_and_the_csv_ones_are_the_contracts():
    assert {s.value for s in VERDICTS} == {"passed", "failed", "error", "timeout", "missing"}
    assert STATUSES == VERDICTS
    assert set(UNJUDGED) <= VERDICTS and FAILING <= VERDICTS and Status.PASSED not in FAILING
    assert Status.GRADED not in VERDICTS  # the feedback page's word for a grader's score
