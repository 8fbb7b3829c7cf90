"""Rebuild the demo's sample submissions from release/ and source/ (run after changing either).

    python samples/make_samples.py

Each sample is the release notebook as a student would hand it in: solutions filled in from
the instructor notebook, then one realistic change.
"""
import re
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENT = "gradient_checking"
MARKERS = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*\n", re.MULTILINE)


def solved() -> nbformat.NotebookNode:
    """The release notebook with every solution cell filled in with the instructor's answer."""
    source = nbformat.read(ROOT / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    answers = {c.metadata["nbgrader"]["grade_id"]: MARKERS.sub("", c.source)
               for c in source.cells if c.metadata.get("nbgrader", {}).get("solution")}
    nb = nbformat.read(ROOT / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.metadata.get("nbgrader", {}).get("solution") and grade_id in answers:
            cell.source = answers[grade_id]
    return nb


def changed(function: str, old: str, new: str) -> nbformat.NotebookNode:
    nb = solved()
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == function:
            assert cell.source.count(old) == 1, (function, old)
            cell.source = cell.source.replace(old, new)
    return nb


def main():
    out = ROOT / "samples" / ASSIGNMENT
    out.mkdir(parents=True, exist_ok=True)
    samples = {
        "perfect": solved(),
        "untouched_release": nbformat.read(ROOT / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4),
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
    for name, nb in samples.items():
        nbformat.write(nb, out / f"{name}.ipynb")
    # A notebook whose JSON was cut off (an interrupted upload).
    text = (out / "perfect.ipynb").read_text(encoding="utf-8")
    (out / "not_json.ipynb").write_text(text[: len(text) // 2], encoding="utf-8")
    print(f"wrote {len(samples) + 1} samples to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
