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


def _limits(seconds: float):
    from autograder.judge.sandbox import Limits
    return Limits(wall_seconds=seconds, memory_mb=1024)


#: Limits for tests whose notebooks never wait for one: the lab's judge alone takes 13-16 s on a
#: busy 2-core machine.
GENEROUS_LIMITS = _limits(60)
#: The limits each assignment's samples are graded under (a rerun under the same ones may resume):
#: gradient_checking's as `./kit demo` grades it, so that its looping sample is cut off after 5 CPU
#: seconds a step rather than 15 (at 60 s it held a worker a minute every time the samples were
#: graded); the lab's generous ones.
SAMPLE_LIMITS = {"gradient_checking": _limits(20), "gradient_checking_lab": GENEROUS_LIMITS}
