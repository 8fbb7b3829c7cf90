"""`./kit formgrader OUT`: nbgrader's formgrader for reviewing and grading by hand, with nothing a
student wrote able to act in the browser or on the machine (trusted side)."""
