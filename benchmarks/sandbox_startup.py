"""Start-up cost of a confined child: the kit's zygote against bubblewrap (README, security model).

    python benchmarks/sandbox_startup.py [N]

Prints medians of N runs (default 10) of: a zygote child from launch until its first cell is
done (fully confined: namespaces, allowlisted root, its own uid); bubblewrap starting a bare
`python -I`; bubblewrap starting python and importing numpy and matplotlib, as a child without
a warm zygote would have to; the same imports without any sandbox. Run it again with
tests/refuse_namespaces.py in front to see a zygote child without namespaces.
"""
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from autograder.judge.confine import allowlist  # noqa: E402
from autograder.judge.judge import Child, ZygoteLauncher  # noqa: E402
from autograder.judge.sandbox import Limits, Scratch, submission_uid  # noqa: E402

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
        child = Child([(0, "x = 1")], scratch.path, limits, time.monotonic() + 60, launcher, uid=uid)
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


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    import numpy  # noqa: F401 (so allowlist() sees the libraries a zygote has loaded)
    import matplotlib.pyplot  # noqa: F401
    launcher, limits = ZygoteLauncher(), Limits(wall_seconds=60)
    try:
        print("zygote child, confined, to its first cell done:", median_ms(timed(lambda: zygote_child(launcher, limits), n)))
    finally:
        launcher.close()
    python = str(Path(sys.prefix) / "bin" / "python")
    if shutil.which("bwrap"):
        print("bwrap + bare python -I:", median_ms(timed(lambda: bwrap([python, "-I", "-c", "pass"]), n)))
        print("bwrap + python importing numpy and matplotlib:",
              median_ms(timed(lambda: bwrap([python, "-I", "-c", IMPORTS]), n)))
    print("python importing numpy and matplotlib, no sandbox:",
          median_ms(timed(lambda: subprocess.run([python, "-I", "-c", IMPORTS], check=True), n)))


if __name__ == "__main__":
    main()
