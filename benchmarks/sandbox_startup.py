"""Start-up cost of a confined child: the kit's zygote against bubblewrap and nsjail (README,
docs/security.md).

    python benchmarks/sandbox_startup.py [N]

Prints medians of N runs (default 10) of: a zygote child from launch until its first cell is
done (fully confined: namespaces, allowlisted root, its own uid), in a control group of its own
(made, entered, read and removed: judge/cgroup.py) and without one; bubblewrap starting a bare
`python -I`; bubblewrap starting python and importing numpy and matplotlib, as a child without
a warm zygote would have to; nsjail (the binary named by $NSJAIL, or `nsjail` on PATH) doing the
same in memory and pids groups of its own; the same imports without any sandbox. Run it again
with tests/support/refuse_namespaces.py in front to see a zygote child without namespaces.
"""
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from autograder.judge.assembly import load_part  # noqa: E402
from autograder.judge import cgroup  # noqa: E402
from autograder.judge.budget import submission_budget  # noqa: E402
from autograder.judge.judge import Child, WallClock, ZygoteLauncher  # noqa: E402
from autograder.judge.sandbox import Limits, Scratch, submission_uid  # noqa: E402

allowlist = load_part("confine").allowlist

IMPORTS = "import numpy, matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot"


def median_ms(samples):
    return f"{statistics.median(samples) * 1000:.0f} ms"


def timed(run, n):
    run()  # warm the caches once
    out = []
    for _ in range(n):
        start = time.perf_counter()
        run()
        out.append(time.perf_counter() - start)
    return out


def zygote_child(launcher, limits):
    uid = submission_uid()
    with Scratch(owner=uid, limits=limits) as scratch:
        child = Child([(0, "x = 1")], scratch.path, limits, WallClock(submission_budget(limits.wall_seconds)), launcher,
                      uid=uid)
        try:
            child.wait_loaded()
        finally:
            child.close()


def bwrap(command):
    binds = []
    extra = [sys.prefix, os.path.dirname(os.path.realpath(sys.executable)), "/usr/lib64"]  # bwrap execs: the ELF loader too
    for path in allowlist([p for p in extra if os.path.exists(p)]):
        binds += ["--ro-bind", path, path] if not os.path.islink(path) else ["--symlink", os.readlink(path), path]
    subprocess.run(["bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--dev", "/dev", "--proc", "/proc",
                    "--tmpfs", "/tmp", "--setenv", "MPLCONFIGDIR", "/tmp", *binds, *command],
                   check=True, stderr=subprocess.DEVNULL)


def nsjail(binary, layout, command):
    """nsjail as it would confine a child: namespaces, its own memory and pids groups (v1 here)."""
    groups = []
    if isinstance(layout, cgroup.Layout) and layout.version == 1:
        for name, flag in (("memory", "mem"), ("pids", "pids")):
            place = layout.places.get(name)
            if place:
                mount = "/sys/fs/cgroup/" + name
                groups += [f"--cgroup_{flag}_mount", mount, f"--cgroup_{flag}_parent",
                           os.path.relpath(os.path.join(place, "NSJAIL"), mount)]
        groups += ["--cgroup_mem_max", str(1 << 30), "--cgroup_pids_max", "256"]
    subprocess.run([binary, "-Mo", "-q", "--chroot", "/", "--disable_proc", "--env", "MPLCONFIGDIR=/tmp",
                    "--tmpfsmount", "/tmp", *groups, "--", *command], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    import numpy  # noqa: F401 (so allowlist() sees the libraries a zygote has loaded)
    import matplotlib.pyplot  # noqa: F401
    launcher, limits = ZygoteLauncher(), Limits(wall_seconds=60)
    make_group = cgroup.make_group
    try:
        print(f"zygote child, confined, to its first cell done, in a control group ({cgroup.in_force() or cgroup.unavailable()}):",
              median_ms(timed(lambda: zygote_child(launcher, limits), n)))
        cgroup.make_group = lambda *args: None
        print("zygote child, confined, to its first cell done, no control group:",
              median_ms(timed(lambda: zygote_child(launcher, limits), n)))
    finally:
        cgroup.make_group = make_group
        launcher.close()
    python = str(Path(sys.prefix) / "bin" / "python")
    binary = os.environ.get("NSJAIL") or shutil.which("nsjail")
    if binary:
        layout = cgroup.find_layout()
        parents = [os.path.join(layout.places[c], "NSJAIL") for c in ("memory", "pids")
                   if isinstance(layout, cgroup.Layout) and c in layout.places]
        for parent in parents:
            os.makedirs(parent, exist_ok=True)
        try:
            print("nsjail + bare python -I:", median_ms(timed(lambda: nsjail(binary, layout, [python, "-I", "-c", "pass"]), n)))
            print("nsjail + python importing numpy and matplotlib:",
                  median_ms(timed(lambda: nsjail(binary, layout, [python, "-I", "-c", IMPORTS]), n)))
        finally:
            for parent in parents:
                os.rmdir(parent)
    if shutil.which("bwrap"):
        print("bwrap + bare python -I:", median_ms(timed(lambda: bwrap([python, "-I", "-c", "pass"]), n)))
        print("bwrap + python importing numpy and matplotlib:",
              median_ms(timed(lambda: bwrap([python, "-I", "-c", IMPORTS]), n)))
    print("python importing numpy and matplotlib, no sandbox:",
          median_ms(timed(lambda: subprocess.run([python, "-I", "-c", IMPORTS], check=True), n)))


if __name__ == "__main__":
    main()
