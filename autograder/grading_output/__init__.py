"""OUT, the folder a grading run writes (trusted side): guarded before anything is made in it, a
record per assignment of what the gradebook does not hold, and every CSV in it derived again
from the gradebook (a grader's manual scores and comments included) by `grade` and `export`."""
