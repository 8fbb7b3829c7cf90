"""The control-group module on this machine's real hierarchies (cgroup v1 here) and on a real
cgroup2 mount made for the test where the kernel allows one, else on a fake tree.

Each test makes its own small group, runs real processes in it and checks what the kernel
reports: CPU time of processes reaped at once, the memory and process caps for the group as a
whole, the kill of processes that left their process group, and that an unprivileged member
cannot leave the group or raise its caps.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from autograder.judge import cgroup

LAYOUT = cgroup.find_layout()
needs_groups = pytest.mark.skipif(not isinstance(LAYOUT, cgroup.Layout),
                                  reason=f"no control group can be made here: {LAYOUT}")
#: An unprivileged uid for the member that tries to leave (no account uses it).
NOBODY = 65534


def _burnt_by_reaped_children(children: int) -> str:
    """A program whose children each burn 0.05 CPU s and are reaped at once (never seen in /proc)."""
    return textwrap.dedent(f"""
        import os, time
        for _ in range({children}):
            if os.fork() == 0:
                t = time.process_time()
                while time.process_time() - t < 0.05:
                    pass
                os._exit(0)
            os.wait()
    """)


def _run_in(group: cgroup.Group, program: str, uid: int | None = None) -> subprocess.Popen:
    """A Python process put into `group` before it runs `program` (as the zygote does)."""
    def enter():
        group.add(os.getpid())
        if uid is not None:
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(program)], preexec_fn=enter,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _emptied(group: cgroup.Group) -> bool:
    """Whether the group's killed processes have all finished dying (a bound, not a speed test)."""
    deadline = time.monotonic() + 30
    while group.pids() and time.monotonic() < deadline:
        time.sleep(0.01)
    return group.pids() == []


@pytest.fixture
def group():
    made = cgroup.Group(LAYOUT, 96 * 2**20, 16)
    yield made
    folders = list(made.folders.values())
    made.kill()
    assert _emptied(made)
    made.remove()
    assert not any(os.path.exists(folder) for folder in folders)


@needs_groups
def test_cpu_of_children_reaped_at_once_is_charged(group):
    proc = _run_in(group, _burnt_by_reaped_children(8))
    assert proc.wait(60) == 0, proc.stderr.read()
    # 8 x 0.05 s burnt by processes that were reaped at once: the group's counter has all of it.
    assert group.cpu_seconds() >= 0.4
    assert group.pids() == []


@needs_groups
def test_the_memory_cap_holds_for_the_processes_together(group):
    # Three processes of 48 MB each: every one under the 96 MB cap, their sum over it.
    proc = _run_in(group, """
        import os, time
        kids = []
        for _ in range(3):
            pid = os.fork()
            if pid == 0:
                hold = bytearray(48 * 2**20)
                for i in range(0, len(hold), 4096):
                    hold[i] = 1
                time.sleep(60)
                os._exit(0)
            kids.append(pid)
        ended = [os.waitpid(pid, 0)[1] for pid in kids[:1]]
        print(ended)
    """)
    deadline = time.monotonic() + 60  # a bound for a stuck test, not a speed assertion
    while not group.memory_exceeded() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert group.memory_exceeded()
    group.kill()
    assert _emptied(group)
    proc.wait(30)


@needs_groups
def test_the_process_cap_refuses_a_fork_bomb(group):
    if "pids" not in group.folders and "pids" not in LAYOUT.controllers:
        pytest.skip("no pids controller here")
    proc = _run_in(group, """
        import os, time
        made = 0
        try:
            while True:
                if os.fork() == 0:
                    time.sleep(60)
                    os._exit(0)
                made += 1
        except OSError:
            print(made, flush=True)
        time.sleep(60)
    """)
    made = int(proc.stdout.readline())  # its children hold the pipe: no communicate()
    assert made < 16 and group.processes_exceeded()
    group.kill()
    assert _emptied(group) and proc.wait(30) < 0


@needs_groups
def test_kill_reaches_processes_that_left_their_session(group):
    proc = _run_in(group, """
        import os, sys, time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                time.sleep(120)
            os._exit(0)
        time.sleep(0.2)
        print("detached", flush=True)
        time.sleep(120)
    """)
    assert proc.stdout.readline().strip() == "detached"
    assert len(group.pids()) == 2  # the process and the one that left its session
    group.kill()
    assert _emptied(group)
    assert proc.wait(30) < 0


@needs_groups
@pytest.mark.skipif(os.geteuid() != 0, reason="becoming another uid needs root")
def test_an_unprivileged_member_cannot_leave_its_group_or_raise_its_caps(group):
    memory = "memory.max" if LAYOUT.version == 2 else "memory.limit_in_bytes"
    targets = [os.path.join(os.path.dirname(os.path.dirname(f)), "cgroup.procs") for f in group.procs]
    targets += [os.path.join(f, memory) for c, f in group.folders.items() if c in ("memory", "")]
    pid = os.fork()
    if pid == 0:  # in the group, as an unprivileged uid: count the writes that got through
        wrote = 0
        try:
            group.add(os.getpid())
            os.setgroups([])
            os.setresgid(NOBODY, NOBODY, NOBODY)
            os.setresuid(NOBODY, NOBODY, NOBODY)
            for path in targets:
                try:
                    with open(path, "w") as f:
                        f.write(str(os.getpid()) if path.endswith("procs") else "-1")
                    wrote += 1
                except OSError:
                    pass
        finally:
            os._exit(wrote)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "an unprivileged member wrote to its group's files"
    for folder in group.folders.values():
        assert os.stat(folder).st_uid == os.geteuid() and not os.stat(folder).st_mode & 0o022


@needs_groups
def test_a_judged_child_is_in_its_group_from_its_first_instruction():
    """The zygote's child enters the group the judge made before it runs anything else: what it
    reports as its own groups is that group, and the group is gone with the child."""
    from autograder.judge.judge import ZygoteLauncher
    from autograder.judge.sandbox import Limits, Scratch
    launcher = ZygoteLauncher()
    try:
        with Scratch() as scratch:
            launched = launcher.launch(scratch.path, Limits(wall_seconds=5))
            try:
                group = launched.group
                assert group is not None
                deadline = time.monotonic() + 30  # a bound for a stuck child, not a speed assertion
                while launched.pid not in group.pids() and time.monotonic() < deadline:
                    time.sleep(0.01)
                assert launched.pid in group.pids()
                names = {os.path.basename(f) for f in group.folders.values()}
                own = Path(f"/proc/{launched.pid}/cgroup").read_text()
                assert all(name in own for name in names), own
            finally:
                launched.close()
            assert not any(os.path.exists(f) for f in group.procs)
    finally:
        launcher.close()


# -- cgroup v2 ------------------------------------------------------------------------------------

@pytest.fixture
def cgroup2_mount():
    """A cgroup2 file system mounted for the test (its controllers may be bound to v1 here)."""
    if os.geteuid() != 0:
        pytest.skip("mounting needs root")
    point = tempfile.mkdtemp(prefix="gc-cgroup2-")
    if subprocess.run(["mount", "-t", "cgroup2", "none", point], capture_output=True).returncode != 0:
        os.rmdir(point)
        pytest.skip("the kernel refused a cgroup2 mount")
    try:
        yield point
    finally:
        subprocess.run(["umount", point], check=True)
        os.rmdir(point)


def test_v2_counts_cpu_and_kills_the_whole_group_on_a_real_mount(cgroup2_mount):
    mountinfo = f"1 2 0:99 / {cgroup2_mount} rw - cgroup2 none rw\n"
    layout = cgroup.find_layout(mountinfo, "0::/\n")
    assert isinstance(layout, cgroup.Layout) and layout.version == 2, layout
    group = cgroup.Group(layout, 64 * 2**20, 8)
    try:
        proc = _run_in(group, _burnt_by_reaped_children(4) + textwrap.dedent("""
            if os.fork() == 0:
                os.setsid()
                time.sleep(120)
            print("ready", flush=True)
            time.sleep(120)
        """))
        assert proc.stdout.readline().strip() == "ready"
        assert group.cpu_seconds() >= 0.2
        assert len(group.pids()) == 2
        group.kill()
        assert _emptied(group) and proc.wait(30) < 0
    finally:
        group.remove()
        cgroup.remove_pending()
    assert group.folders == {} and [
        p for p in os.listdir(cgroup2_mount) if p.startswith(f"{cgroup.PREFIX}{os.getpid()}-")] == []


def test_v2_caps_and_counters_on_a_fake_tree(tmp_path):
    """The v2 files a group writes and reads, on a fake tree (this kernel's memory and pids
    controllers are bound to v1, so a real cgroup2 mount here has neither)."""
    root = tmp_path / "cg"
    root.mkdir()
    (root / "cgroup.controllers").write_text("cpu memory pids\n")
    (root / "cgroup.subtree_control").write_text("")
    mountinfo = f"1 2 0:99 / {root} rw - cgroup2 none rw\n"
    layout = cgroup.find_layout(mountinfo, "0::/\n")
    assert layout.version == 2 and layout.controllers == {"memory", "pids"}
    assert (root / "cgroup.subtree_control").read_text() == "+memory +pids"
    group = cgroup.Group(layout, 64 * 2**20, 8, name="gradcheck-fake")
    folder = root / "gradcheck-fake"
    assert (folder / "memory.max").read_text() == str(64 * 2**20) and (folder / "pids.max").read_text() == "8"
    (folder / "cpu.stat").write_text("usage_usec 1500000\nuser_usec 1000000\n")
    (folder / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    (folder / "pids.events").write_text("max 0\n")
    assert group.cpu_seconds() == 1.5 and group.memory_exceeded() and not group.processes_exceeded()
    assert group.procs == [str(folder / "cgroup.procs")]


def test_v1_is_chosen_where_the_unified_hierarchy_has_no_memory_controller():
    """This machine's shape: v1 hierarchies beside a cgroup2 mount without controllers."""
    layout = cgroup.find_layout()
    if os.path.exists("/sys/fs/cgroup/memory/cgroup.procs") and os.geteuid() == 0:
        assert isinstance(layout, cgroup.Layout) and layout.version == 1
        own = Path("/proc/self/cgroup").read_text()
        memory_path = next(line.split(":", 2)[2] for line in own.splitlines() if ":memory:" in line)
        assert layout.places["memory"].endswith(memory_path.rstrip("/"))


def test_no_group_where_the_hierarchy_is_not_writable(tmp_path):
    folder = tmp_path / "memory"
    folder.mkdir()
    (tmp_path / "cpuacct").mkdir()
    mountinfo = (f"1 2 0:98 / {tmp_path / 'cpuacct'} rw - cgroup cgroup rw,cpuacct\n"
                 f"1 2 0:97 / {folder} rw - cgroup cgroup rw,memory\n")
    folder.chmod(0o555)
    try:
        found = cgroup.find_layout(mountinfo, "4:memory:/\n2:cpuacct:/\n")
        if os.geteuid() != 0:
            assert isinstance(found, str) and "not writable" in found
        found = cgroup.find_layout(f"1 2 0:98 / {tmp_path} rw - cgroup cgroup rw,cpuacct\n", "2:cpuacct:/\n")
        assert isinstance(found, str) and "memory" in found
    finally:
        folder.chmod(0o755)
