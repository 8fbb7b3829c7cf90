"""Grading on Dask: a local cluster, a scheduler and workers started as separate processes (the way
a SLURM or Kubernetes course runs them, see docs/cluster.md), and a worker killed mid-batch. Every
run must give byte-identical CSVs to the local pool's and grade each student exactly once. The
cluster speaks only TLS to holders of its credentials, opens no HTTP server, and its workers get
nothing of the instructor's but what grading needs."""
import asyncio
import hashlib
import json
import os
import shlex
import socket
import ssl
import stat
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
import psutil
import pytest
from nbgrader.api import Gradebook

from autograder.course.manifest import load as load_manifest
from autograder.judge.sandbox import Limits
from autograder.pipeline.run import resume
from autograder.pipeline.gradebook.store import COURSE_ID
from autograder.pipeline.workers.dask_executor import DaskCluster, course_bundle
from autograder.pipeline.workers.dask_security import ClusterError, ClusterSpec, parse_cluster
from autograder.pipeline.run.grade import GradingError, grade

from support import ROOT, SUPPORT

SAMPLES = ROOT / "samples" / "gradient_checking"
LIMITS = Limits(wall_seconds=20, memory_mb=1024)
DASK = str(Path(sys.executable).parent / "dask")  # the `dask` command of this environment
CLUSTER_DOCS = ROOT / "docs" / "cluster.md"


def docs_block(marker: str) -> str:
    """The text of docs/cluster.md's code block that follows `marker`, up to the block's end."""
    return CLUSTER_DOCS.read_text(encoding="utf-8").split(marker, 1)[1].split("```", 1)[0]


@pytest.fixture(scope="module")
def klass(tmp_path_factory):
    """The samples that finish quickly (not_json is an intake error), plus copies under new ids,
    so there are more submissions than workers."""
    folder = tmp_path_factory.mktemp("class")
    for sample in SAMPLES.glob("*.ipynb"):
        if sample.stem != "never_finishes":
            shutil.copy(sample, folder / sample.name)
    for copy, sample in [("carol", "perfect"), ("dave", "bug_backprop_dW2"), ("erin", "perfect"),
                         ("frank", "bug_flatten_order")]:
        shutil.copy(SAMPLES / f"{sample}.ipynb", folder / f"{copy}.ipynb")
    return folder


@pytest.fixture(scope="module")
def pool_run(klass, tmp_path_factory):
    return grade(klass, "gradient_checking", tmp_path_factory.mktemp("pool"), jobs=2, limits=LIMITS, progress=False)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    """A CA, the cluster's and the instructor's certificates, made by docs/cluster.md's own commands."""
    folder = tmp_path_factory.mktemp("tls")
    subprocess.run(["bash", "-e", "-c", docs_block("# make-grading-certificates.sh")], cwd=folder, check=True,
                   capture_output=True)
    assert {p.name for p in folder.iterdir()} == {"ca.key", "ca.pem", "cluster.key", "cluster.pem",
                                                  "instructor.key", "instructor.pem"}
    assert all(p.stat().st_mode & 0o077 == 0 for p in folder.iterdir()), "keys readable by others"
    return folder


def instructor(address: str, certificates: Path) -> ClusterSpec:
    return ClusterSpec(address, str(certificates / "ca.pem"), str(certificates / "instructor.pem"),
                       str(certificates / "instructor.key"))


def slurm_commands(scheduler_file: Path, local_directory: Path, certificates: Path) -> dict[str, list[str]]:
    """{"scheduler": argv, "worker": argv}: the `dask` lines of docs/cluster.md's SLURM script, with
    its variables set (srun and the trailing & are the batch system's part, not Dask's)."""
    script = docs_block("# slurm-workers.sh")
    commands = {}
    for line in script.splitlines():
        line = (line.replace("$SCHEDULER_FILE", str(scheduler_file)).replace("$TMPDIR", str(local_directory))
                .replace("$TLS", str(certificates)))
        words = shlex.split(line.rstrip("& "))
        if "dask" in words:
            words = words[words.index("dask"):]
            commands[words[1]] = [DASK, *words[1:]]
    assert set(commands) == {"scheduler", "worker"}, script
    return commands


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory, certificates):
    """`dask scheduler` and two `dask worker`s on 127.0.0.1, each a process of its own with its
    own local directory, started with docs/cluster.md's SLURM script's own command lines."""
    folder = tmp_path_factory.mktemp("dask")
    info = folder / "scheduler.json"
    command = slurm_commands(info, folder, certificates)["scheduler"] + ["--host", "127.0.0.1", "--port", "0"]
    procs = [subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)]
    workers = []
    try:
        deadline = time.monotonic() + 120
        while not info.is_file() and time.monotonic() < deadline:
            time.sleep(0.2)
        address = json.loads(info.read_text())["address"]
        assert address.startswith("tls://")
        for slot in range(2):
            proc, local = start_worker(folder, info, f"worker-{slot}", certificates)
            procs.append(proc)
            workers.append(local)
        from distributed import Client
        with Client(address, timeout="60s", security=instructor(address, certificates).security()) as client:
            client.wait_for_workers(2, timeout=120)
        yield {"address": address, "info": info, "folder": folder, "certificates": certificates,
               "pids": [p.pid for p in procs]}
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)  # the run is over: nothing to shut down gracefully
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def start_worker(folder: Path, info: Path, name: str, certificates: Path):
    local = folder / name
    local.mkdir()
    command = slurm_commands(info, local, certificates)["worker"] + ["--name", name]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    return proc, local


def gradebook_submissions(out: Path) -> list[str]:
    """Student ids of the gradebook's submissions, with repeats if any were recorded twice."""
    with Gradebook(f"sqlite:///{out / 'gradebook.db'}", COURSE_ID) as gb:
        return sorted(s.student.id for s in gb.find_assignment("gradient_checking").submissions)


def gradebook_scores(out: Path) -> dict:
    with Gradebook(f"sqlite:///{out / 'gradebook.db'}", COURSE_ID) as gb:
        return {(s.student.id, g.name): (g.auto_score, g.needs_manual_grade)
                for s in gb.find_assignment("gradient_checking").submissions
                for nb in s.notebooks for g in nb.grades}


def kept_on_a_rerun(run, klass) -> list[str]:
    """The students whose verdict a rerun of `run` keeps, as resume.previous_verdict decides."""
    key = resume.resume_key(ROOT, "gradient_checking", load_manifest("gradient_checking", ROOT).path, LIMITS,
                            "sandbox")
    return sorted(s for s in run.outcomes if resume.previous_verdict(
        run.out, "gradient_checking", "gradient_checking", s,
        hashlib.sha256((klass / f"{s}.ipynb").read_bytes()).hexdigest(), key))


def assert_same_as_pool(run, pool_run):
    for name in ("scores.csv", "grades_by_exercise.csv"):
        assert (run.out / name).read_bytes() == (pool_run.out / name).read_bytes(), name
    assert gradebook_submissions(run.out) == gradebook_submissions(pool_run.out)
    assert gradebook_scores(run.out) == gradebook_scores(pool_run.out)
    for student, outcome in pool_run.outcomes.items():
        if outcome.ok:
            assert (run.out / "feedback" / student / "gradient_checking" / "gradient_checking.html").is_file()
            record = json.loads((run.out / "verdicts" / student / "gradient_checking.json").read_text())
            assert record["complete"] is True


def test_cluster_addresses_and_credentials_are_checked(certificates, tmp_path, monkeypatch):
    (tmp_path / "class").mkdir()
    nbformat.write(nbformat.read(SAMPLES / "perfect.ipynb", as_version=4), tmp_path / "class" / "alice.ipynb")
    assert parse_cluster("local") == "local"
    assert parse_cluster("tls://10.0.0.5:8786") == "tls://10.0.0.5:8786"
    for bad in ("", "tcp://", "10.0.0.5:8786", "slurm"):
        with pytest.raises(ClusterError):
            parse_cluster(bad)
    with pytest.raises(ClusterError, match="--insecure-cluster"):
        ClusterSpec("tcp://10.0.0.5:8786")
    with pytest.raises(GradingError, match="--insecure-cluster"):  # before anything starts or is written
        grade(tmp_path / "class", "gradient_checking", tmp_path / "out", cluster="tcp://10.0.0.5:8786", progress=False)
    assert not (tmp_path / "out").exists()
    assert ClusterSpec("tcp://10.0.0.5:8786", insecure=True).security() is None
    from click.testing import CliRunner
    from autograder.cli import main
    for arguments, said in ((["--cluster", "tcp://10.0.0.5:8786"], "--insecure-cluster"),
                            (["--tls-cert", "x.pem"], "go with --cluster")):
        result = CliRunner().invoke(main, ["grade", str(tmp_path / "class"), "--out", str(tmp_path / "out"), *arguments])
        assert result.exit_code == 2 and said in result.output, result.output
    for name in ("DASK_DISTRIBUTED__COMM__TLS__CA_FILE", "DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ClusterError, match="--tls-ca-file, --tls-cert"):
        ClusterSpec("tls://10.0.0.5:8786")
    with pytest.raises(ClusterError, match="no such readable file"):
        ClusterSpec("tls://10.0.0.5:8786", str(tmp_path / "ca.pem"), str(certificates / "instructor.pem"))
    security = instructor("tls://10.0.0.5:8786", certificates).security()
    assert security.require_encryption and security.tls_client_cert == str(certificates / "instructor.pem")
    # distributed's own settings name the files when no option does
    import dask
    with dask.config.set({"distributed.comm.tls.ca-file": str(certificates / "ca.pem"),
                          "distributed.comm.tls.client.cert": str(certificates / "instructor.pem"),
                          "distributed.comm.tls.client.key": str(certificates / "instructor.key")}):
        assert ClusterSpec("tls://10.0.0.5:8786").security().tls_ca_file == str(certificates / "ca.pem")


def listening(pids) -> set[tuple[str, int]]:
    """(address, port) of every socket the processes `pids` listen on."""
    found = set()
    for pid in pids:
        found |= {(c.laddr.ip, c.laddr.port) for c in psutil.Process(pid).net_connections("inet")
                  if c.status == psutil.CONN_LISTEN}
    return found


def answers_http(host: str, port: int) -> bool:
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.settimeout(10)
        try:
            sock.sendall(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
            return sock.recv(16).startswith(b"HTTP/")
        except OSError:  # reset or timed out: a TLS listener, not an HTTP server
            return False


def dask_handshake(address: str, **connection_args) -> bool:
    """True when a Dask comm to `address` with these arguments gets through Dask's handshake."""
    from distributed.comm import connect

    async def handshake():
        comm = await connect(address, timeout=20, **connection_args)
        await comm.close()
    try:
        asyncio.run(asyncio.wait_for(handshake(), 60))
        return True
    except (OSError, asyncio.TimeoutError):  # distributed's CommClosedError, ssl.SSLError, no answer: refused
        return False


def test_a_local_cluster_speaks_tls_with_the_runs_own_credentials_only():
    from distributed import Security
    before = listening([os.getpid()])
    remote = DaskCluster(ClusterSpec("local"), 1)
    try:
        client = remote.ready()
        assert client.scheduler.address.startswith("tls://127.0.0.1:")
        pids = [os.getpid(), *client.run(os.getpid).values()]  # the scheduler and nanny run in this process
        ports = listening(pids) - before
        assert len(ports) >= 3, ports  # the scheduler's, the nanny's and the worker's comm
        assert {host for host, _ in ports} == {"127.0.0.1"}, "the local cluster listens beyond loopback"
        assert 8787 not in {port for _, port in ports}
        # what an attacker has: any certificate of their own, trust in any server, no certificate at all
        stranger = Security.temporary().get_connection_args("client")
        trusting = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cadata=remote.security.tls_ca_file)
        trusting.check_hostname = False
        for host, port in sorted(ports):
            assert not answers_http(host, port), f"an HTTP server answers on {host}:{port}"
            address = f"tls://{host}:{port}"
            assert dask_handshake(address, **remote.security.get_connection_args("client")), address
            assert not dask_handshake(address, **stranger), address
            assert not dask_handshake(address, ssl_context=trusting), f"{address} takes a client without a certificate"
            assert not dask_handshake(f"tcp://{host}:{port}"), address
    finally:
        remote.close()


def test_the_workers_get_no_solutions_gradebook_or_secret(pool_run):
    """The worker plugin's bundle: the release, helpers and the assignment's registration only."""
    from autograder.grading.secret import course_secret
    bundle = course_bundle(pool_run.out, "gradient_checking")
    source_notebook = (ROOT / "source" / "gradient_checking" / "gradient_checking.ipynb").read_bytes()
    assert not [name for name in bundle if name.startswith("source/") and name.endswith(".ipynb")]
    assert "release/gradient_checking/gradient_checking.ipynb" in bundle
    solutions = ["".join(cell.source.split("### BEGIN SOLUTION", 1)[1].split("### END SOLUTION", 1)[:1]).strip()
                 for cell in nbformat.reads(source_notebook.decode(), as_version=4).cells
                 if "### BEGIN SOLUTION" in cell.source]
    solutions = [s for s in solutions if len(s) > 100]  # one-liners such as `J = theta * x` are in the helpers
    assert len(solutions) >= 6
    secret = course_secret(ROOT)
    for name, data in bundle.items():
        assert data != source_notebook and secret not in data and ".autograder-secret" not in name, name
        assert not any(solution.encode() in data for solution in solutions), f"{name} holds a solution"
    assert list(name for name in bundle if name.endswith(".db")) == ["gradebook.db"]
    assert bundle["gradebook.db"] != (pool_run.out / "gradebook.db").read_bytes()
    scratch = pool_run.out.parent / "bundle-gradebook.db"
    scratch.write_bytes(bundle["gradebook.db"])
    with Gradebook(f"sqlite:///{scratch}", COURSE_ID) as gb:
        assert gb.students == [] and [a.name for a in gb.assignments] == ["gradient_checking"]


def test_a_worker_grading_with_another_secret_is_refused_before_any_student(klass, tmp_path, monkeypatch):
    """The workers draw hidden cases from their own secret: one other than the run's stops the run
    at its start, naming the worker and what to do, with nothing graded."""
    from autograder.course import fingerprint
    monkeypatch.setattr(fingerprint, "secret_digest", lambda root=None: "0" * 16)  # the run's side only
    with pytest.raises(GradingError) as refused:
        grade(klass, "gradient_checking", tmp_path / "out", jobs=1, limits=LIMITS, progress=False, cluster="local")
    message = str(refused.value)
    assert "the Dask worker tls://127.0.0.1:" in message and "another course secret" in message, message
    assert ".autograder-secret on every node" in message
    assert "another version of the kit" not in message and "another assignments/" not in message  # only the secret
    assert not list((tmp_path / "out").glob("verdicts/*/*.json")) and not (tmp_path / "out" / "scores.csv").exists()


def test_a_worker_that_joins_with_another_kit_grades_no_one():
    """A worker that joins after the run began fails the plugin's set-up alone; every task sent to
    it then ends with the same message (an error row the next run grades again), never a verdict."""
    from types import SimpleNamespace
    from autograder.course.fingerprint import Grader
    from autograder.pipeline.workers.dask_security import OtherGrader
    from autograder.pipeline.workers.dask_worker import CoursePlugin
    from autograder.pipeline.workers.messages import Task, WorkerSettings
    run = Grader.here("gradient_checking")
    settings = WorkerSettings(Path("/nonexistent"), "gradient_checking", "sqlite://")
    plugin = CoursePlugin("p", "gradient_checking", {}, settings, Grader("0.0.1+old", run.assignment, run.secret))
    address = "tls://10.1.2.3:4567"
    with pytest.raises(OtherGrader, match=f"{address} grades with another version of the kit") as refused:
        plugin.setup(SimpleNamespace(address=address, local_directory="/nonexistent"))
    assert "0.0.1+old" in str(refused.value) and run.kit in str(refused.value)
    with pytest.raises(OtherGrader) as again:
        plugin.grade(Task("ann", "abc", "key"), b"{}", None)
    assert str(again.value) == str(refused.value)


def test_a_local_cluster_of_two_workers_grades_like_the_pool(klass, pool_run, tmp_path):
    run = grade(klass, "gradient_checking", tmp_path / "out", jobs=2, limits=LIMITS, progress=False, cluster="local")
    assert_same_as_pool(run, pool_run)
    graded = [o.answer for o in run.outcomes.values() if o.ok]
    workers = {answer.worker: answer.scratch for answer in graded}
    assert len(workers) == 2, "both worker processes should have graded"
    scratch = [Path(s) for s in workers.values()]
    assert len(set(scratch)) == 2 and not any(s.is_relative_to(tmp_path) for s in scratch)
    assert not any(s.exists() for s in scratch), "a worker's scratch course outlives the run"


def test_a_scheduler_and_workers_started_as_processes_grade_like_the_pool(klass, pool_run, scheduler, tmp_path):
    run = grade(klass, "gradient_checking", tmp_path / "out", jobs=2, limits=LIMITS, progress=False,
                cluster=instructor(scheduler["address"], scheduler["certificates"]))
    assert_same_as_pool(run, pool_run)
    scratch = {Path(o.answer.scratch) for o in run.outcomes.values() if o.ok}
    homes = [scheduler["folder"] / f"worker-{slot}" for slot in range(2)]
    assert all(any(s.is_relative_to(home) for home in homes) for s in scratch), scratch
    # The same resume behaviour as the pool's: what a rerun keeps is what it keeps after the pool.
    kept = kept_on_a_rerun(pool_run, klass)
    assert kept and kept_on_a_rerun(run, klass) == kept, "the cluster's verdicts lack the run's resume key"
    # Rerun with one more student, whose cell reaches for the scheduler and the instructor's files.
    submissions = tmp_path / "again"
    shutil.copytree(klass, submissions)
    reached = [scheduler["certificates"] / "cluster.key", scheduler["certificates"] / "instructor.key",
               ROOT / ".autograder-secret", ROOT / "source" / "gradient_checking" / "gradient_checking.ipynb",
               scheduler["folder"]]
    write_prober(submissions / "mallory.ipynb", scheduler["address"], reached)
    again = grade(submissions, "gradient_checking", tmp_path / "out", jobs=2, limits=LIMITS, progress=False,
                  cluster=instructor(scheduler["address"], scheduler["certificates"]))
    assert sorted(again.kept) == kept and again.graded == ["mallory"]
    rows = (again.out / "grades_by_exercise.csv").read_text().splitlines(keepends=True)
    assert "".join(r for r in rows if not r.startswith("mallory,")) == (
        pool_run.out / "grades_by_exercise.csv").read_text()
    probed = cell_outputs(again.out / "autograded" / "mallory" / "gradient_checking" / "gradient_checking.ipynb")
    assert "PROBE: no connection" in probed and "PROBE: reached" not in probed
    assert probed.count("PROBE: cannot read") == len(reached) and "PROBE: read " not in probed
    from autograder.grading.secret import course_secret
    assert "PROBE: environment" in probed and course_secret(ROOT).decode() not in probed


PROBE = """import os, socket
host, port = {address!r}.split("://")[1].rsplit(":", 1)
try:
    socket.create_connection((host, int(port)), timeout=5).close()
    print("PROBE: reached the scheduler")
except OSError as exc:
    print("PROBE: no connection to the scheduler:", type(exc).__name__)
for path in {paths!r}:
    try:
        os.listdir(path) if os.path.isdir(path) else open(path, "rb").close()
        print("PROBE: read " + path)
    except OSError:
        print("PROBE: cannot read " + path)
print("PROBE: environment", sorted(os.environ.items()))
"""


def cell_outputs(notebook: Path) -> str:
    """Everything the notebook's cells printed, as the student's feedback shows it."""
    nb = nbformat.read(notebook, as_version=4)
    return "".join(output.get("text", "") for cell in nb.cells if cell.cell_type == "code"
                   for output in cell.get("outputs", []))


def write_prober(target: Path, address: str, paths: list[Path]) -> None:
    """The perfect sample with one more cell, run in the judge's child like every other cell."""
    nb = nbformat.read(SAMPLES / "perfect.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(PROBE.format(address=address, paths=[str(p) for p in paths])))
    nbformat.write(nb, target)


def test_a_worker_killed_mid_batch_loses_nothing(klass, pool_run, scheduler, tmp_path):
    from distributed import Client
    victim, local = start_worker(scheduler["folder"], scheduler["info"], "victim", scheduler["certificates"])
    seen = {}
    cluster = instructor(scheduler["address"], scheduler["certificates"])
    try:
        with Client(scheduler["address"], timeout="60s", security=cluster.security()) as client:
            client.wait_for_workers(3, timeout=120)

        def kill_when_busy():
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline and victim.poll() is None:
                busy = list(local.glob("**/autograder-*/submitted/*"))
                if busy:
                    seen["student"] = busy[0].name
                    seen["course mode"] = stat.S_IMODE(busy[0].parent.parent.stat().st_mode)
                    os.killpg(victim.pid, signal.SIGKILL)  # the nanny and the worker it started
                    return
                time.sleep(0.05)

        killer = threading.Thread(target=kill_when_busy)
        killer.start()
        run = grade(klass, "gradient_checking", tmp_path / "out", jobs=2, limits=LIMITS, progress=False,
                    cluster=cluster)
        killer.join()
    finally:
        if victim.poll() is None:
            os.killpg(victim.pid, signal.SIGKILL)
        victim.wait()
    assert seen, "the victim worker never got a submission"
    assert seen["course mode"] == 0o700, "a worker's scratch course is open to other users"
    assert run.outcomes[seen["student"]].ok
    assert not run.outcomes[seen["student"]].answer.scratch.startswith(str(local))
    assert_same_as_pool(run, pool_run)


class _Stuck:
    """A grading worker that never answers within the budget it is given (it records it)."""

    def __init__(self):
        self.budgets = []

    def ask(self, task, budget, still_running=None):
        self.budgets.append(budget)
        raise TimeoutError

    def stop(self, kill=False):
        pass


def test_both_executors_give_a_submission_the_same_time_budget(tmp_path):
    """A notebook the local pool lets finish must not time out on a cluster: the pool and the Dask
    executor both take their budget from executor.budget, i.e. the judge's budget.task_seconds."""
    from autograder.judge.budget import task_seconds
    from autograder.pipeline.workers.dask_executor import DaskCluster
    from autograder.pipeline.workers.messages import Answer, Graded, Task, WorkerSettings
    from autograder.pipeline.workers.pool import LocalPool
    limits = Limits(wall_seconds=20, memory_mb=1024)
    settings = WorkerSettings(tmp_path, "gradient_checking", "sqlite://", limits)
    stuck = _Stuck()
    local = LocalPool(settings, 1, prestart=False)
    local.idle = [stuck]
    on_pool = local.grade_all([Task("s", "", "k")])["s"]

    class TimedOut:
        """A finished Dask future whose grading worker did not answer in time."""
        key = "grade-s"

        def result(self):
            return Graded(Answer.timed_out()).to_dict()

        def release(self):
            pass

    on_dask = DaskCluster.__new__(DaskCluster)
    on_dask.settings = settings
    on_dask = on_dask.receive(None, Task("s"), TimedOut())
    assert on_pool.status == on_dask.status == "timeout"
    assert on_pool.message == on_dask.message, "the Dask executor restates another budget than the pool's"
    assert stuck.budgets == [task_seconds(limits.wall_seconds)]
    assert f"within {task_seconds(limits.wall_seconds):.0f} s" in on_dask.message


#: A cell that finds every listening TCP port in /proc/net/tcp and sees which ones talk to it: a
#: plain Dask comm speaks first (its handshake), an HTTP server answers a GET, a TLS listener stays
#: silent for a peer without a certificate. Only modules a child has loaded (socket, select): where
#: namespaces are refused the interpreter's folder may be closed to the child's uid.
PORT_PROBE = """import select, socket, time
ports = set()
for table in ("/proc/net/tcp", "/proc/net/tcp6"):
    try:
        with open(table) as f:
            rows = f.read().splitlines()[1:]
    except OSError:
        rows = []
    ports |= {int(r.split()[1].rsplit(":", 1)[1], 16) for r in rows if r.split()[3] == "0A"}
socks, heard = {}, {}
refused = set()
for port in sorted(ports):
    try:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    except OSError:  # the sandbox's seccomp filter: no socket at all
        refused.add(port)
        continue
    sock.settimeout(2)
    try:
        sock.connect(("127.0.0.1", port))  # not create_connection: no codec for host names is loaded
        socks[port] = sock
    except OSError:
        sock.close()
def listen(seconds):
    end = time.monotonic() + seconds
    while socks and time.monotonic() < end:
        ready = select.select(list(socks.values()), [], [], 0.2)[0]
        for port, sock in list(socks.items()):
            if sock in ready:
                try:
                    data = sock.recv(64)
                except OSError:
                    data = b""
                if data:
                    heard.setdefault(port, data)
                socks.pop(port).close()
listen(2)
spoke = set(heard)
for sock in socks.values():
    try:
        sock.sendall(b"GET / HTTP/1.0\\r\\n\\r\\n")
    except OSError:
        pass
listen(3)
for port in sorted(ports):
    kind = "no socket" if port in refused else "SPOKE FIRST" if port in spoke \
        else "HTTP" if heard.get(port, b"").startswith(b"HTTP/") else "silent"
    print(f"PROBE: {port} {kind}")
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="installing the seccomp filter needs root")
def test_where_namespaces_are_refused_a_cell_cannot_use_the_local_cluster(tmp_path):
    """The attack of a student's cell where the child shares the host's network: it finds the
    local cluster's ports in /proc/net/tcp and tries each (see PORT_PROBE)."""
    submissions, out = tmp_path / "class", tmp_path / "out"
    submissions.mkdir()
    nb = nbformat.read(SAMPLES / "perfect.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(PORT_PROBE))
    nbformat.write(nb, submissions / "mallory.ipynb")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "COV"))}
    proc = subprocess.Popen([sys.executable, str(SUPPORT / "refuse_namespaces.py"), sys.executable,
                             "-m", "autograder", "grade", str(submissions), "--out", str(out), "--jobs", "1",
                             "--time-limit", "60", "--cluster", "local"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT, env=env)
    cluster_ports = set()
    while proc.poll() is None:  # the ports the cluster's processes listen on, while they live
        try:
            tree = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            break
        for process in tree:
            try:
                cluster_ports |= {port for _, port in listening([process.pid])}
            except psutil.NoSuchProcess:
                pass
        time.sleep(0.2)
    output = proc.communicate()[0]
    assert proc.returncode == 0 and "WEAK ISOLATION" in output, output
    probed = cell_outputs(out / "autograded" / "mallory" / "gradient_checking" / "gradient_checking.ipynb")
    tried = {int(line.split()[1]): line for line in probed.splitlines() if line.startswith("PROBE: ")}
    assert len(cluster_ports) >= 3 and cluster_ports <= set(tried), (cluster_ports, probed)  # it reached them all
    assert [tried[port] for port in sorted(cluster_ports) if not tried[port].endswith((" silent", " no socket"))] == []
