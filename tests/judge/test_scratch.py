"""A submission's scratch never outlives it and never fills the host's disk: a capped tmpfs where
the machine allows mounting, and a removal that cannot fail half-way where it does not (any
depth, folders made mode 000, links, FIFOs and hard links planted in it)."""
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from autograder.judge import sandbox
from autograder.judge.removal import remove_tree
from autograder.judge.sandbox import Limits, Scratch
from support import ROOT

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mounting and other uids need root")


def plant_chain(top: Path, depth: int, canary: Path) -> None:
    """A chain of `depth` folders below top, every 500th made mode 000 after its child, with a
    symlink to canary, a FIFO and a hard link to canary at the bottom."""
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for level in range(depth):
            os.mkdir("d", dir_fd=fd)
            below = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            if level % 500 == 499:
                os.fchmod(fd, 0)
            os.close(fd)
            fd = below
        os.symlink(str(canary), "link", dir_fd=fd)
        os.mkfifo("fifo", dir_fd=fd)
        try:
            os.link(canary, "hard", dst_dir_fd=fd)
        except OSError:  # another file system, or protected_hardlinks for a file not its own
            pass
        os.fchmod(fd, 0)
    finally:
        os.close(fd)


@pytest.fixture
def canary(tmp_path):
    path = tmp_path / "canary.txt"
    path.write_bytes(b"canary\n")
    return path


def tidy(folder: Path) -> None:
    parent = os.open(folder.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        remove_tree(parent, folder.name)
    finally:
        os.close(parent)


def shm_folder() -> Path:
    """A folder on a tmpfs (fast to fill with many folders), /tmp where there is none."""
    parent = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    return Path(tempfile.mkdtemp(prefix="gc-removal-", dir=parent))


@pytest.mark.parametrize("as_owner", [False, True], ids=["root", "owner"])
def test_a_20000_deep_tree_with_locked_folders_and_links_is_removed(canary, as_owner):
    """As root, and as an ordinary user removing its own tree (mode 000 stops it until it chmods)."""
    if as_owner and os.geteuid() != 0:
        pytest.skip("becoming the tree's owner needs root")
    base = shm_folder()
    owner = sandbox.FIRST_CHILD_UID - 1
    try:
        tree = base / "tree"
        tree.mkdir()
        if as_owner:
            os.chown(base, owner, owner)
            os.chown(tree, owner, owner)
        pid = os.fork()
        if pid == 0:
            try:
                if as_owner:
                    os.setresgid(owner, owner, owner)
                    os.setresuid(owner, owner, owner)
                plant_chain(tree, 20_000, canary)
                try:
                    shutil.rmtree(tree)
                    os._exit(3)  # a recursive removal must not manage this tree
                except (RecursionError, OSError):  # too deep for it, or a folder of mode 000
                    pass
                parent = os.open(base, os.O_RDONLY | os.O_DIRECTORY)
                remove_tree(parent, "tree")
                os._exit(0 if not os.listdir(parent) else 1)
            except BaseException:  # noqa: B902
                import traceback
                traceback.print_exc()
                os._exit(2)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert not tree.exists() and canary.read_bytes() == b"canary\n"
        assert canary.stat().st_nlink == 1 and stat.S_IMODE(canary.stat().st_mode) == 0o644
    finally:
        tidy(base)


@needs_root
def test_a_removal_never_follows_a_link_nor_leaves_its_file_system(tmp_path, canary):
    """A link to a folder outside is unlinked, not followed; another file system mounted inside
    the tree is left alone, and the removal says it could not finish."""
    from autograder.judge.sandbox import detach, scratch_tmpfs
    tree = tmp_path / "tree"
    (tree / "inner" / "mounted").mkdir(parents=True)
    os.symlink(tmp_path, tree / "inner" / "up")
    scratch_tmpfs(str(tree / "inner" / "mounted"), {"scratch_mb": 1, "scratch_files": 16}, 0)
    try:
        (tree / "inner" / "mounted" / "kept").write_bytes(b"kept")
        parent = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            with pytest.raises(OSError):
                remove_tree(parent, "tree")
        finally:
            os.close(parent)
        assert (tree / "inner" / "mounted" / "kept").read_bytes() == b"kept"
        assert not (tree / "inner" / "up").is_symlink() and canary.exists()
    finally:
        detach(str(tree / "inner" / "mounted"))


@needs_root
def test_scratch_is_a_capped_tmpfs_that_goes_with_the_submission(tmp_path):
    limits = Limits(scratch_mb=4, scratch_files=64)
    uid = sandbox.submission_uid()
    scratch = Scratch(owner=uid, limits=limits)
    assert scratch.mounted
    flags = os.statvfs(scratch.path).f_flag
    assert flags & os.ST_NOSUID and flags & os.ST_NODEV and flags & os.ST_NOEXEC
    assert os.stat(scratch.path).st_uid == uid
    with pytest.raises(OSError):  # ENOSPC at the size cap
        (scratch.path / "fill").write_bytes(b"x" * (5 * 2**20))
    with pytest.raises(OSError):  # ENOSPC at the inode cap
        for i in range(100):
            (scratch.path / f"f{i}").touch()
    os.chmod(scratch.path, 0)
    assert scratch.remove()
    assert not scratch.outer.exists()
    assert str(scratch.path) not in Path("/proc/self/mountinfo").read_text()


@needs_root
def test_scratch_on_the_hosts_disk_is_removed_whatever_the_child_made(monkeypatch, canary):
    """Where mounting is refused (a container without CAP_SYS_ADMIN) scratch is a folder on the
    host's disk: a chain of folders made mode 000, links and FIFOs are still removed."""
    def refused(*args):
        raise PermissionError(1, "mount refused")
    monkeypatch.setattr(sandbox, "scratch_tmpfs", refused)
    scratch = Scratch(owner=sandbox.submission_uid())
    assert not scratch.mounted
    plant_chain(scratch.path, 1_200, canary)  # on a disk: a short chain (each level is a journal write)
    os.chmod(scratch.path, 0)
    assert scratch.remove() and not scratch.outer.exists()
    assert canary.read_bytes() == b"canary\n" and canary.stat().st_nlink == 1


@needs_root
def test_a_scratch_left_by_a_killed_grader_is_unmounted_by_the_next(tmp_path):
    """A grader killed mid-submission (SIGKILL: no clean-up of its own) leaves its scratch tmpfs
    mounted on the host; the next grading process unmounts and removes it before its first
    scratch, and leaves alone what only looks like one: another uid's folder, a link."""
    made = subprocess.run([sys.executable, "-c", "import os; from autograder.judge.sandbox import Scratch; "
                           "print(Scratch().outer, flush=True); os.kill(os.getpid(), 9)"],
                          cwd=ROOT, capture_output=True, text=True)
    outer = Path(made.stdout.strip())
    assert os.path.ismount(outer / "work"), made.stderr
    dead = outer.name.split("-")[1]  # the killed grader's pid, which its scratch is named for
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep").write_text("kept")
    base = Path(tempfile.gettempdir())
    decoy, link = base / f"judge-{dead}-decoy{os.getpid()}", base / f"judge-{dead}-link{os.getpid()}"
    try:
        decoy.mkdir()
        (decoy / "keep").write_text("kept")
        os.chown(decoy, 65534, 65534)
        link.symlink_to(victim, target_is_directory=True)
        subprocess.run([sys.executable, "-c", "from autograder.judge.sandbox import Scratch; Scratch().remove()"],
                       cwd=ROOT, check=True)
        assert not os.path.ismount(outer / "work") and not outer.exists()
        assert (decoy / "keep").read_text() == "kept" and (victim / "keep").read_text() == "kept"
        assert link.is_symlink()
    finally:
        if os.path.ismount(outer / "work"):
            sandbox.detach(str(outer / "work"))
        shutil.rmtree(outer, ignore_errors=True)
        shutil.rmtree(decoy, ignore_errors=True)
        link.unlink(missing_ok=True)


def test_the_sweep_leaves_a_folder_a_live_process_works_in(tmp_path):
    """A folder named for a maker that is gone is removed, but not while a process still runs in it:
    a warm interpreter outlives its killed launcher until it has loaded, then removes its own
    folder; swept from under it, its matplotlib made the folder again and it failed to start."""
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    folder = tmp_path / f"gradcheck-zygote-{gone.stdout.strip()}-swept"
    (folder / "inner").mkdir(parents=True)
    inside = subprocess.Popen(["sleep", "600"], cwd=folder / "inner")
    try:
        assert sandbox.remove_orphan_folders("gradcheck-zygote-", str(tmp_path)) == []
        assert (folder / "inner").is_dir()
    finally:
        inside.kill()
        inside.wait()
    assert sandbox.remove_orphan_folders("gradcheck-zygote-", str(tmp_path)) == [folder.name]
    assert not folder.exists()
