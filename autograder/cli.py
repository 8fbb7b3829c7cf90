"""The `autograder` command: release, grade and demo."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from . import manifest as manifests
from .release import ReleaseError, generate


def course_root() -> Path:
    return manifests.course_root()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="gradcheck-autograder")
def main():
    """Release, grade and give feedback on the gradient-checking assignments (nbgrader course)."""


@main.command()
@click.argument("assignment", required=False)
def release(assignment):
    """Regenerate release/ASSIGNMENT from source/ (every assignment when none is named)."""
    root = course_root()
    names = [assignment] if assignment else manifests.available(root)
    for name in names:
        try:
            manifests.load(name, root)
            target = generate(name, root)
        except (ReleaseError, manifests.ManifestError) as exc:
            raise click.ClickException(str(exc))
        click.echo(f"released {name} -> {target.relative_to(root)}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
