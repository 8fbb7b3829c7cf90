"""The grading pipeline, all on the trusted side, in rooms: intake, steps, feedback, gradebook, workers, run."""
