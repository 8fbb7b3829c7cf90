"""nbgrader's gradebook for a run (trusted side): the store, its engines, the registered assignment, rows."""
