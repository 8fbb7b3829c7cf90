"""Grading into a real PostgreSQL server: the same grades as SQLite, parallel workers, a worker
killed mid-batch, a rerun that resumes, a second assignment in the same database, the due date,
and a password that is never printed."""
import csv
import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell
from nbgrader.api import Gradebook

from autograder.course import manifest as manifests
from autograder.judge.sandbox import Limits
from autograder.pipeline.gradebook import store
from autograder.pipeline.gradebook.store import COURSE_ID, sqlite_url
from autograder.pipeline.run.grade import grade
from support import ROOT
from support.postgres import postgres_server  # noqa: F401 (the fixture)

SAMPLES = ROOT / "samples"
LIMITS = Limits(wall_seconds=60, memory_mb=1024)  # generous: no student here waits for a limit
ASSIGNMENT, LAB = "gradient_checking", "gradient_checking_lab"
DUE = store.due_date_utc(manifests.load(ASSIGNMENT).due)
LATE = dt.timedelta(days=1, hours=12, minutes=1)
#: student: (sample, submitted how long after the due date); only bob hands in late.
CLASS = {"alice": ("perfect", -dt.timedelta(hours=14)), "bob": ("bug_backprop_dW2", LATE),
         "carol": ("untouched_release", -dt.timedelta(minutes=59)), "erin": ("not_json", None),
         "sleepy": ("perfect", None)}
LAB_CLASS = {"alice": "perfect", "bob": "bug_locate_largest"}  # the same students, the other assignment
SLEEP_SECONDS = 3  # sleepy's notebook pauses this long while being graded: the moment its worker is killed


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def totals(path) -> dict[str, tuple[float, float]]:
    """{student: (score, max_score)} summed from a by-exercise CSV."""
    out = {}
    for r in read_csv(path):
        score, full = out.get(r["student_id"], (0.0, 0.0))
        out[r["student_id"]] = (score + float(r["score"]), full + float(r["max_score"]))
    return out


def grades(path):
    """The grading outcome of a by-exercise CSV, without anything that may differ between runs."""
    return sorted((r["student_id"], r["exercise"], r["score"], r["max_score"], r["status"], r["message"])
                  for r in read_csv(path))


def make_class(folder: Path) -> Path:
    """The class in nbgrader's submitted layout, with timestamp.txt where the student has one."""
    for student, (sample, after_due) in CLASS.items():
        target = folder / student / ASSIGNMENT
        target.mkdir(parents=True)
        source = SAMPLES / ASSIGNMENT / f"{sample}.ipynb"
        if student == "sleepy":
            nb = nbformat.read(source, as_version=4)
            nb.cells.insert(2, new_code_cell(f"import time\ntime.sleep({SLEEP_SECONDS})"))
            nbformat.write(nb, target / f"{ASSIGNMENT}.ipynb")
        else:
            shutil.copy(source, target / f"{ASSIGNMENT}.ipynb")
        if after_due is not None:
            (target / "timestamp.txt").write_text((DUE + after_due).strftime("%Y-%m-%d %H:%M:%S.%f %Z"))
    return folder


def worker_processes(out: Path) -> dict[int, list[str]]:
    """{pid: argv} of the grading workers serving the course in `out`."""
    found = {}
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if "autograder.pipeline.workers.worker" in argv and any(str(out) in a for a in argv):
            found[int(entry.name)] = argv
    return found


def kill_workers_when_submission_appears(server, database: str, out: Path, student: str, seen: dict, stop):
    """Poll the gradebook; once `student`'s submission row exists (its grading has begun), SIGKILL
    every worker of the run. seen gets the workers' command lines and the pids killed."""
    sql = ("SELECT count(*) FROM submitted_assignment s JOIN assignment a ON a.id = s.assignment_id "
           "WHERE a.name = %s AND s.student_id = %s")
    while not stop.is_set():
        try:
            present = server.query(database, sql, (ASSIGNMENT, student))[0][0]
        except Exception:  # the schema is not created yet
            present = 0
        workers = worker_processes(out)
        seen.setdefault("argv", []).extend(" ".join(a) for a in workers.values())
        if present:
            for pid in workers:
                os.kill(pid, signal.SIGKILL)
            seen["killed"] = sorted(workers)
            return
        time.sleep(0.05)


@pytest.fixture(scope="module")
def runs(postgres_server, tmp_path_factory):
    """The class graded into SQLite; into PostgreSQL with a worker killed mid-batch while the lab
    is graded into the same database by the command line; then the PostgreSQL run again."""
    base = tmp_path_factory.mktemp("postgres")
    submissions = make_class(base / "in")
    lab_in = base / "lab_in"
    lab_in.mkdir()
    for student, sample in LAB_CLASS.items():
        shutil.copy(SAMPLES / LAB / f"{sample}.ipynb", lab_in / f"{student}.ipynb")

    sqlite = grade(submissions, ASSIGNMENT, base / "sqlite", jobs=2, limits=LIMITS, progress=False)

    url = postgres_server.create_database("course1")
    out = base / "pg"
    lab_out = base / "lab"
    lab = subprocess.Popen([sys.executable, "-m", "autograder", "grade", str(lab_in), "--assignment", LAB,
                            "--out", str(lab_out), "--db", postgres_server.socket_url("course1"), "--jobs", "1", "--time-limit", "60"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    seen, stop = {}, threading.Event()
    killer = threading.Thread(target=kill_workers_when_submission_appears,
                              args=(postgres_server, "course1", out, "sleepy", seen, stop))
    killer.start()
    try:
        first = grade(submissions, ASSIGNMENT, out, jobs=2, db_url=url, limits=LIMITS, progress=False)
    finally:
        stop.set()
        killer.join()
    lab_stdout, lab_stderr = lab.communicate(timeout=600)
    assert lab.returncode == 0, lab_stderr[-3000:]
    after_kill = {
        "null_grades": postgres_server.query("course1", """
            SELECT count(*) FROM grade g JOIN submitted_notebook n ON n.id = g.notebook_id
            JOIN submitted_assignment s ON s.id = n.assignment_id JOIN assignment a ON a.id = s.assignment_id
            WHERE a.name = %s AND g.auto_score IS NULL AND g.manual_score IS NULL""", (ASSIGNMENT,))[0][0],
        "open_transactions": postgres_server.query("course1", """
            SELECT count(*) FROM pg_stat_activity WHERE datname = 'course1' AND state LIKE 'idle in transaction%%'
            """)[0][0]}
    stamps = {s: (out / "verdicts" / s / f"{ASSIGNMENT}.json").stat().st_mtime_ns
              for s, o in first.outcomes.items() if o.ok}
    again = grade(submissions, ASSIGNMENT, out, jobs=2, db_url=url, limits=LIMITS, progress=False)
    regraded = {s for s in stamps if (out / "verdicts" / s / f"{ASSIGNMENT}.json").stat().st_mtime_ns != stamps[s]}
    return {"sqlite": sqlite, "first": first, "again": again, "url": url, "server": postgres_server,
            "seen": seen, "after_kill": after_kill, "regraded": regraded, "lab_out": lab_out,
            "lab_output": lab_stdout + lab_stderr}


def test_postgresql_grades_equal_sqlite_grades(runs):
    assert grades(runs["again"].exercises_csv) == grades(runs["sqlite"].exercises_csv)
    assert read_csv(runs["again"].grades_csv) == read_csv(runs["sqlite"].grades_csv)
    got = totals(runs["again"].exercises_csv)
    full = got["alice"][1]
    assert got["alice"][0] == got["sleepy"][0] == full and 0 < got["bob"][0] < full and got["erin"][0] == 0


def test_the_gradebook_rows_in_postgresql_are_the_csv_grades(runs):
    got = totals(runs["again"].exercises_csv)
    with Gradebook(runs["url"], COURSE_ID) as gb:
        submissions = gb.find_assignment(ASSIGNMENT).submissions
        assert sorted(s.student.id for s in submissions) == sorted(CLASS)
        for student, (score, full) in got.items():
            submission = gb.find_submission(ASSIGNMENT, student)
            assert (submission.score, submission.max_score) == (score, full), student
        bob = {g.name: (g.score, g.max_score) for g in gb.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, "bob").grades}
        assert bob["test_backward_propagation_n"][0] == 0 < bob["test_backward_propagation_n"][1]
        assert bob["test_forward_propagation_n"][0] == bob["test_forward_propagation_n"][1] > 0


def test_a_worker_killed_mid_batch_leaves_no_half_written_rows(runs):
    first, seen = runs["first"], runs["seen"]
    assert seen.get("killed"), "sleepy's grading was never seen starting, so no worker was killed"
    assert not first.outcomes["sleepy"].ok and "stopped unexpectedly" in first.outcomes["sleepy"].message
    assert runs["after_kill"] == {"null_grades": 0, "open_transactions": 0}
    killed = {s for s, o in first.outcomes.items() if not o.ok}
    assert {"sleepy"} <= killed <= {"alice", "bob", "carol", "sleepy"}


def test_the_rerun_keeps_what_was_graded_and_grades_the_rest(runs):
    first, again = runs["first"], runs["again"]
    kept = {s for s, o in again.outcomes.items() if "unchanged" in o.message}
    assert kept == {s for s, o in first.outcomes.items() if o.ok}
    assert not runs["regraded"], f"graded again although unchanged: {sorted(runs['regraded'])}"
    assert again.outcomes["sleepy"].ok


def test_a_second_assignment_in_the_same_database_does_not_clash(runs):
    with Gradebook(runs["url"], COURSE_ID) as gb:
        assert sorted(a.name for a in gb.assignments) == [ASSIGNMENT, LAB]
        assert sorted(s.student.id for s in gb.find_assignment(LAB).submissions) == ["alice", "bob"]
        for student in LAB_CLASS:
            assert sorted(s.assignment.name for s in gb.find_student(student).submissions) == [ASSIGNMENT, LAB]
        full = gb.find_assignment(LAB).max_score
        assert gb.find_submission(LAB, "alice").score == full and 0 < gb.find_submission(LAB, "bob").score < full


def test_the_due_date_is_in_the_gradebook_and_a_late_submission_is_late(runs):
    """In PostgreSQL and in the SQLite default alike (nbgrader keeps naive UTC times)."""
    lab_due = store.due_date_utc(manifests.load(LAB).due)
    for url in (runs["url"], sqlite_url(runs["sqlite"].out / "gradebook.db")):
        with Gradebook(url, COURSE_ID) as gb:
            assert gb.find_assignment(ASSIGNMENT).duedate == DUE.replace(tzinfo=None)
            if url == runs["url"]:
                assert gb.find_assignment(LAB).duedate == lab_due.replace(tzinfo=None)
            assert gb.find_submission(ASSIGNMENT, "bob").total_seconds_late == LATE.total_seconds()
            for student in ("alice", "carol", "sleepy"):
                assert gb.find_submission(ASSIGNMENT, student).total_seconds_late == 0, student


def test_nbgrader_db_commands_work_in_the_output_folders(runs):
    """nbgrader's alembic upgrade over the unix socket (host=/path in the URL) and its assignment
    list over TCP, with the password from PGPASSWORD."""
    env = {**os.environ, "PGPASSWORD": runs["server"].password}
    upgraded = subprocess.run(["nbgrader", "db", "upgrade"], capture_output=True, text=True, cwd=runs["lab_out"],
                              env=env, timeout=300)
    assert upgraded.returncode == 0, upgraded.stderr[-2000:]
    listed = subprocess.run(["nbgrader", "db", "assignment", "list"], capture_output=True, text=True,
                            cwd=runs["first"].out, env=env, timeout=300)
    assert listed.returncode == 0, listed.stderr[-2000:]
    for name in (ASSIGNMENT, LAB):
        due = store.due_date_utc(manifests.load(name).due).strftime("%Y-%m-%d %H:%M:%S")
        assert f"{name} (due: {due})" in listed.stdout + listed.stderr


def test_the_password_is_never_printed_nor_on_a_command_line(runs):
    password = runs["server"].password
    assert runs["seen"].get("argv"), "no worker command line was seen"
    assert password not in "\n".join(runs["seen"]["argv"])
    assert "grader:***@/course1" in runs["lab_output"] and password not in runs["lab_output"]
    for out in (runs["first"].out, runs["lab_out"]):
        config = (out / "nbgrader_config.py").read_text()
        assert "postgresql://grader@" in config and password not in config
        for log in (out / "logs").glob("*"):
            assert password not in log.read_text(errors="replace"), log


def test_concurrent_runs_create_one_gradebook_and_one_of_each_student(postgres_server):
    url = postgres_server.create_database("racing")
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: store.prepare(url, ASSIGNMENT, "2026-12-18T23:59:00+00:00"), range(4)))
        list(pool.map(lambda _: store.ensure_student(url, "zoe"), range(8)))
    assert postgres_server.query("racing", "SELECT id FROM course ORDER BY id") == [("default_course",), (COURSE_ID,)]
    assert postgres_server.query("racing", "SELECT name FROM assignment") == [(ASSIGNMENT,)]
    assert postgres_server.query("racing", "SELECT id FROM student") == [("zoe",)]
    assert len(postgres_server.query("racing", "SELECT * FROM alembic_version")) == 1


def test_an_unreachable_server_is_a_clear_error_without_the_password(tmp_path, monkeypatch):
    monkeypatch.delenv("PGPASSWORD", raising=False)  # restored afterwards: grade() puts the password there
    with pytest.raises(store.GradebookError) as error:
        grade(SAMPLES / ASSIGNMENT, ASSIGNMENT, tmp_path, jobs=1, limits=LIMITS, progress=False,
              db_url="postgresql://grader:s3cret-pw@127.0.0.1:1/nowhere")
    assert "cannot open the gradebook postgresql://grader@127.0.0.1:1/nowhere: connection" in str(error.value)
    assert "s3cret-pw" not in str(error.value)
