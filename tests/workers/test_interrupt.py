"""What `grade` says while it works, and Ctrl-C: a looping notebook gets a "still running" line
rather than a silent bar, and SIGINT ends every worker and everything below it at once, leaving
no judge slot lock held (issue 23)."""
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from support.attack_corpus import alive, descendants
from support import ROOT

SAMPLES = ROOT / "samples" / "gradient_checking"


def lock_holders() -> set[int]:
    """Pids holding a file lock (/proc/locks), to check none of the run's is left holding a slot."""
    holders = set()
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        if len(fields) > 4 and fields[4].isdigit():
            holders.add(int(fields[4]))
    return holders


def judge_mounts() -> list[str]:
    """The scratch mounts on the host (judge-<pid of their maker>-*/work)."""
    return [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()
            if "/judge-" in line.split()[4]]


def control_groups() -> list[str]:
    """The kit's control groups on this machine (gradcheck-<pid of their maker>-N)."""
    return [str(p) for p in Path("/sys/fs/cgroup").glob("**/gradcheck-*")] if Path("/sys/fs/cgroup").is_dir() else []


def maker(path: str) -> int:
    """The pid a scratch or control group is named for."""
    name = next(part for part in Path(path).parts if part.startswith(("judge-", "gradcheck-")))
    return int(name.split("-")[1]) if name.split("-")[1].isdigit() else -1


def as_from_a_terminal() -> None:
    """SIGINT at its default in the child, as a terminal gives it: a runner that started the suite
    in the background (CI) leaves SIGINT ignored, and `grade` rightly keeps what it inherits."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_a_slow_notebook_is_reported_and_ctrl_c_ends_every_worker(tmp_path):
    submissions = tmp_path / "in"
    submissions.mkdir()
    for student in ("loops_a", "loops_b"):
        shutil.copy(SAMPLES / "never_finishes.ipynb", submissions / f"{student}.ipynb")
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "autograder", "grade", str(submissions), "--out", str(out),
                             "--jobs", "2", "--time-limit", "600"], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
                            preexec_fn=as_from_a_terminal)
    lines: list[str] = []
    below: list[int] = []
    threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True).start()
    try:
        deadline = time.monotonic() + 300  # a bound for a loaded machine, not a speed requirement
        while not any(line.startswith("still running: loops_") for line in lines) and proc.poll() is None \
                and time.monotonic() < deadline:
            time.sleep(0.2)
        assert any(line.startswith("still running: loops_") for line in lines), "".join(lines)[-3000:]
        below += descendants(proc.pid)
        assert len(below) >= 2  # the workers (and the shared zygote, the judges' children)
        proc.send_signal(signal.SIGINT)
        deadline = time.monotonic() + 120
        while (proc.poll() is None or any(alive(pid) for pid in below)) and time.monotonic() < deadline:
            time.sleep(0.2)
        left = [pid for pid in below if alive(pid)]
        assert proc.poll() is not None and proc.returncode != 0
        assert left == [], f"still running after Ctrl-C: {left}"
        assert not lock_holders() & set(below)
        assert not [mount for mount in judge_mounts() if maker(mount) in below], "a scratch left mounted"
        assert not [group for group in control_groups() if maker(group) in below], "a control group left"
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid in [*descendants(proc.pid), *below]:  # a failed run leaves no process behind
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
