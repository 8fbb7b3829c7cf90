"""Start-up imports the kit leaves out or defers (autograder/import_costs.py): nbgrader loads
without setuptools, and nbgrader's unzip still works through the deferred functions."""
from __future__ import annotations

import subprocess
import sys
import zipfile

from support import ROOT


def run_python(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_nbgrader_loads_without_setuptools_or_pkg_resources():
    out = run_python("import sys, autograder, nbgrader.api, nbgrader.apps, nbgrader.utils\n"
                     "print(sorted(m for m in sys.modules if m.split('.')[0] in ('setuptools', 'pkg_resources')))")
    assert out.strip() == "['setuptools.archive_util']"  # the stand-in only


def test_nbgraders_unzip_goes_through_to_setuptools(tmp_path):
    archive = tmp_path / "in.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("folder/notebook.ipynb", "{}")
    (tmp_path / "out").mkdir()
    out = run_python("import sys, autograder, nbgrader.utils\n"
                     f"nbgrader.utils.unzip({str(archive)!r}, {str(tmp_path / 'out')!r}, zip_ext=['.zip'])\n"
                     "import setuptools.archive_util as real\n"
                     "print(type(real).__name__, hasattr(real, 'UnrecognizedFormat'))")
    assert out.strip() == "module True"
    assert (tmp_path / "out" / "folder" / "notebook.ipynb").read_text() == "{}"
