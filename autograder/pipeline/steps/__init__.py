"""nbgrader's autograde steps and config, the judge among them (trusted side; the kernel they start is the student's)."""
