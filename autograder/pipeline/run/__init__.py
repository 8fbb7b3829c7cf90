"""A grading run start to finish (trusted side): `autograder grade`, and which earlier verdicts it keeps."""
