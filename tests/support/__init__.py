"""What the tests share besides fixtures: the repository's paths, the session's sample limits, and
helper modules (support.submissions, support.attack_corpus, support.browser, support.postgres, ...).

Importable as `support` from every test folder: the root conftest puts tests/ on sys.path. Scripts
run by path (as_user.py, refuse_namespaces.py) are named by SUPPORT / "<script>.py"."""
from pathlib import Path

#: tests/support/
SUPPORT = Path(__file__).resolve().parent
#: tests/
TESTS = SUPPORT.parent
#: the repository: the course root and the package
ROOT = TESTS.parent
#: tests/data/: the attack, fault and wrong-implementation tables
DATA = TESTS / "data"
SOURCE = ROOT / "source" / "gradient_checking"


def _sample_limits():
    from autograder.judge.sandbox import Limits
    return Limits(wall_seconds=60, memory_mb=1024)


#: The limits the session's sample grading runs under (a rerun under the same ones may resume).
SAMPLE_LIMITS = _sample_limits()
