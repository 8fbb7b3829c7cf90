"""The files an instructor writes are checked: a manifest or a sample recipe with a typo is refused
with a message naming the key and the file; a missing grader says where one goes."""
from __future__ import annotations

import shutil

import pytest

from autograder.course import graders, manifest, samples
from autograder.grading.tolerances import Tolerances

from support import ROOT


@pytest.fixture
def course(tmp_path):
    """A course with a copy of gradient_checking's folder."""
    shutil.copytree(ROOT / "assignments" / "gradient_checking", tmp_path / "assignments" / "gradient_checking")
    return tmp_path


def write_manifest(course, text):
    path = course / "assignments" / "gradient_checking" / "manifest.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_committed_manifests_load_with_their_settings():
    loaded = {name: manifest.load(name, ROOT) for name in manifest.available(ROOT)}
    assert set(loaded) >= {"gradient_checking", "gradient_checking_lab"}
    for found in loaded.values():
        assert found.tolerances == Tolerances(1e-7, (1e-4, 3e-5, 1e-5, 3e-6, 1e-6))
        assert found.folder == ROOT / "assignments" / found.name


@pytest.mark.parametrize("text, message", [
    ("[grading]\nthresold = 1e-7\n", "unknown key 'thresold' in [grading]; [grading] takes threshold, reference_epsilons"),
    ("[limit]\ntime_seconds = 10\n", "unknown section [limit]"),
    ("[limits]\nmemory_mb = 12.5\n", "[limits] memory_mb must be a whole number of MiB"),
    ("[grading]\nreference_epsilons = []\n", "[grading] reference_epsilons must be a list of positive numbers"),
    ("[grading]\nthreshold = -1\n", "[grading] threshold must be a positive number"),
    ("[assignment\n", "manifest.toml"),
])
def test_a_wrong_manifest_is_refused_naming_the_key_and_the_file(course, text, message):
    path = write_manifest(course, text)
    with pytest.raises(manifest.ManifestError) as raised:
        manifest.load("gradient_checking", course)
    assert message in str(raised.value) and str(path) in str(raised.value)


def test_left_out_keys_take_the_defaults(course):
    write_manifest(course, '[assignment]\ntitle = "T"\n')
    found = manifest.load("gradient_checking", course)
    assert (found.title, found.notebook, found.tolerances) == ("T", "gradient_checking", Tolerances())
    assert (found.time_seconds, found.memory_mb, found.due) == (120.0, 1024, None)


def test_a_sample_recipe_with_an_unknown_key_is_refused(course):
    path = course / "assignments" / "gradient_checking" / "samples.toml"
    path.write_text('[[sample]]\nname = "perfect"\nfrom = "solved"\nexpected = {}\n', encoding="utf-8")
    with pytest.raises(manifest.ManifestError, match="unknown key 'expected'") as raised:
        samples.recipes("gradient_checking", course)
    assert str(path) in str(raised.value)


def test_an_assignment_without_a_grader_says_where_one_goes(course):
    shutil.rmtree(course / "assignments" / "gradient_checking" / "grader")
    with pytest.raises(graders.GraderError, match="grader/checks.py"):
        graders.load("gradient_checking", course)


def test_dependency_names_are_resolved_in_their_own_assignment():
    reference = graders.module("gradient_checking", "reference")
    assert graders.resolve("gradient_checking:reference.forward_propagation") is reference.forward_propagation
    with pytest.raises(graders.GraderError, match="names no assignment"):
        graders.resolve("reference.forward_propagation")
    with pytest.raises(graders.GraderError, match="unknown dependency"):
        graders.resolve("gradient_checking_lab:reference.forward_propagation")
    with pytest.raises(ValueError, match="too many numbers"):
        graders.check_arguments("gradient_checking:reference.forward_propagation", [[0.0] * 300_000], {})
