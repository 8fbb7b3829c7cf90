"""The feedback pages' shared MathJax is copied once per output folder: workers that race for it
wait for one copy instead of each making its own (0.1 to 0.2 CPU s each at the start of a run)."""
import os

from autograder.pipeline import feedback_static


def test_racing_workers_copy_mathjax_once(tmp_path, monkeypatch):
    copies = tmp_path / "copies"
    copies.mkdir()
    copytree = feedback_static.shutil.copytree

    def counted(*args, **kwargs):
        (copies / str(os.getpid())).touch()
        return copytree(*args, **kwargs)
    monkeypatch.setattr(feedback_static.shutil, "copytree", counted)
    feedback = tmp_path / "feedback"
    pids = []
    for _ in range(4):
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                feedback_static.install_static(feedback)
                code = 0
            finally:
                os._exit(code)
        pids.append(pid)
    for pid in pids:
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    static = feedback / "_static"
    assert (static / "mathjax" / "MathJax.js").is_file() and (static / "mathjax-config.js").is_file()
    assert len(list(copies.iterdir())) == 1, "each racing worker made its own copy"
    assert not [p for p in static.iterdir() if p.name.startswith(".staging-")]
