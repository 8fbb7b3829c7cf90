"""nbgrader configuration: the repository root is the course root."""
import os

c = get_config()  # noqa: F821 (provided by nbgrader)

c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.course_id = "gradient-checking"
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
# A notebook that never finishes a cell is stopped; the kit's `autograder grade` adds overall
# limits from the assignment manifest.
c.Execute.timeout = 120
c.Execute.interrupt_on_timeout = True
