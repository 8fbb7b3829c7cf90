"""The repository as a course and as a package: dependencies in step, run-time folders ignored."""
import re
import subprocess
import sys

from support import ROOT

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def _name(requirement: str) -> str:
    return re.split(r"[<>=;!~ ]", requirement.strip(), maxsplit=1)[0].lower()


#: conda-forge packages published under another name than on PyPI.
CONDA_NAMES = {"msgpack-python": "msgpack"}


def _spec(requirement: str) -> str:
    """The requirement without its marker and extras (conda has no extras: psycopg[binary] is psycopg
    there), under its PyPI name."""
    spec = re.sub(r"\[.*?\]", "", requirement.split(";")[0].split("#")[0]).strip().replace(" ", "").lower()
    name = _name(spec)
    return CONDA_NAMES.get(name, name) + spec[len(name):]


def test_environment_yml_names_the_same_dependencies_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    text = (ROOT / "environment.yml").read_text().split("dependencies:", 1)[1]
    conda = [line.strip()[2:] for line in text.splitlines() if line.strip().startswith("- ")]
    conda = [c for c in conda if _name(c).rstrip(":") not in ("python", "pip")]  # "- pip:" opens pip's list
    assert sorted(_spec(c) for c in conda) == sorted(_spec(p) for p in project)


def test_the_assignment_packages_are_all_declared():
    project = {_name(r) for r in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]}
    assert {"numpy", "nbgrader", "jupyter", "matplotlib", "pytest"} <= project


def test_runtime_folders_are_ignored_by_git():
    for path in ("submitted/x", "autograded/x", "feedback/x", "gradebook.db", "demo-output/x", ".venv/x"):
        result = subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT)
        assert result.returncode == 0, f"{path} is not ignored"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"^(\./kit \w+)", readme, re.MULTILINE)
    assert commands[:2] == ["./kit demo", "./kit test"]
    ci = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if line and not line.startswith("#")]
    assert ci[-1] == "./kit test"


def test_cli_help_lists_every_subcommand():
    out = subprocess.run([sys.executable, "-m", "autograder", "--help"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0
    for command in ("release", "grade", "demo", "new"):
        assert command in out.stdout
        sub = subprocess.run([sys.executable, "-m", "autograder", command, "--help"], capture_output=True, text=True)
        assert sub.returncode == 0 and "Usage" in sub.stdout


def test_readme_is_a_short_guide_whose_links_resolve():
    """README.md stays a guide of at most 300 lines; every relative link in it and in docs/ names a
    file that exists, so a moved guide never leaves a reader at a dead link."""
    readme = ROOT / "README.md"
    assert len(readme.read_text(encoding="utf-8").splitlines()) <= 300
    for page in [readme, *sorted((ROOT / "docs").glob("*.md")), ROOT / "benchmarks" / "HISTORY.md"]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text(encoding="utf-8")):
            if "://" not in target:
                assert (page.parent / target).exists(), f"{page.relative_to(ROOT)} links to {target}, which does not exist"
