"""The Gradescope zip as `autograder gradescope` builds it, unpacked: a fixture for the tests of the
zip (end_to_end/test_gradescope.py) and of the sandbox under Gradescope's runner
(judge/test_sandbox_levels.py)."""
import os
import zipfile

import pytest
from click.testing import CliRunner

from autograder.cli import main


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The zip, built by `autograder gradescope`, and where it was unpacked."""
    tmp = tmp_path_factory.mktemp("gradescope")
    result = CliRunner().invoke(main, ["gradescope", "gradient_checking", "--out", str(tmp / "autograder.zip")])
    assert result.exit_code == 0, result.output
    unpacked = tmp / "source"
    with zipfile.ZipFile(tmp / "autograder.zip") as zf:
        zf.extractall(unpacked)
        for info in zf.infolist():  # extractall drops the permission bits
            os.chmod(unpacked / info.filename, (info.external_attr >> 16) & 0o777)
    return tmp / "autograder.zip", unpacked
