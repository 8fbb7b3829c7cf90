"""Grade on Gradescope: build the autograder zip, and the runner that zip calls per submission.

`build.build_zip` writes the zip Gradescope's autograder spec expects (`setup.sh` and
`run_autograder` at its root, everything else beside them); `run.grade_submission` is what
`run_autograder` calls: it finds the notebook in `/autograder/submission/`, has the judge decide
every exercise (no Jupyter kernel needed) and returns the `results.json` Gradescope reads.
"""
from .build import build_zip, points_table
from .run import grade_submission

__all__ = ["build_zip", "points_table", "grade_submission"]
