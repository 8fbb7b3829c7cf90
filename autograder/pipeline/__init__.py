"""The grading pipeline: intake, nbgrader autograde with the judge, feedback, reports."""
