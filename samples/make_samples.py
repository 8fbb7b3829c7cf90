"""Rebuild the demo's sample submissions from release/ and source/ (run after changing either).

    python samples/make_samples.py

Each sample is the release notebook as a student would hand it in: solutions filled in from
the instructor notebook, then one realistic change.
"""
import re
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
MARKERS = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*\n", re.MULTILINE)


def solved(assignment="gradient_checking") -> nbformat.NotebookNode:
    """The release notebook with every solution cell filled in with the instructor's answer."""
    source = nbformat.read(ROOT / "source" / assignment / f"{assignment}.ipynb", as_version=4)
    answers = {c.metadata["nbgrader"]["grade_id"]: MARKERS.sub("", c.source)
               for c in source.cells if c.metadata.get("nbgrader", {}).get("solution")}
    nb = release(assignment)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.metadata.get("nbgrader", {}).get("solution") and grade_id in answers:
            cell.source = answers[grade_id]
    return nb


def release(assignment="gradient_checking") -> nbformat.NotebookNode:
    return nbformat.read(ROOT / "release" / assignment / f"{assignment}.ipynb", as_version=4)


def changed(function: str, old: str, new: str, assignment="gradient_checking") -> nbformat.NotebookNode:
    nb = solved(assignment)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == function:
            assert cell.source.count(old) == 1, (function, old)
            cell.source = cell.source.replace(old, new)
    return nb


def lab_samples() -> dict:
    lab = "gradient_checking_lab"
    return {
        "perfect": solved(lab),
        "untouched_release": release(lab),
        # Picks the block with the largest difference instead of the first in backprop order.
        "bug_locate_largest": changed(
            "locate_bug", '    for key in ["dW3", "db3", "dW2", "db2", "dW1", "db1"]:\n'
                          '        if differences[key] > threshold:\n            return key',
            "    worst = max(differences, key=differences.get)\n"
            "    if differences[worst] > threshold:\n        return worst", lab),
        # Draws new dropout masks in the nudged passes.
        "bug_dropout_new_masks": changed(
            "dropout_gradient_check",
            "J_plus, _ = forward_with_dropout(X, Y, vector_to_dictionary(theta_plus), keep_prob, masks)",
            "J_plus, _ = forward_with_dropout(X, Y, vector_to_dictionary(theta_plus), keep_prob)", lab),
    }


def write(folder: Path, samples: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, nb in samples.items():
        nbformat.write(nb, folder / f"{name}.ipynb")


def main():
    write(ROOT / "samples" / "gradient_checking_lab", lab_samples())
    out = ROOT / "samples" / "gradient_checking"
    samples = {
        "perfect": solved(),
        "untouched_release": release(),
        # The classic bug: a stray factor 2 in dW2.
        "bug_backprop_dW2": changed("backward_propagation_n", "dW2 = 1.0 / m * np.dot(dZ2, A1.T)",
                                    "dW2 = 1.0 / m * np.dot(dZ2, A1.T) * 2"),
        # A one-sided difference in the N-dimensional checker.
        "bug_one_sided_check": changed(
            "gradient_check_n",
            "        gradapprox[i] = (J_plus[i] - J_minus[i]) / (2 * epsilon)",
            "        J_0, _ = forward_propagation_n(X, Y, vector_to_dictionary(parameters_values))\n"
            "        gradapprox[i] = (J_plus[i] - J_0) / epsilon"),
        # Blocks flattened column by column (Fortran order).
        "bug_flatten_order": changed("dictionary_to_vector", "np.reshape(parameters[key], (-1, 1))",
                                     "np.reshape(parameters[key], (-1, 1), order='F')"),
        # A loop that never ends, in the one-dimensional checker.
        "never_finishes": changed("gradient_check", "    theta_plus = theta + epsilon\n",
                                  "    theta_plus = theta + epsilon\n    while theta_plus > 0:\n        theta_plus = theta_plus + 1\n"),
    }
    write(out, samples)
    # A notebook whose JSON was cut off (an interrupted upload).
    text = (out / "perfect.ipynb").read_text(encoding="utf-8")
    (out / "not_json.ipynb").write_text(text[: len(text) // 2], encoding="utf-8")
    print(f"wrote the samples to {out.parent.relative_to(ROOT)}/")


if __name__ == "__main__":
    main()
