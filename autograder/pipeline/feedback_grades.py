"""nbgrader's GetGrades with a submission's grades and comments read at once (trusted side).

GetGrades fills each graded cell of the feedback page from the gradebook with one query per cell
(a grade for each grade cell, a comment for each solution cell): eighteen queries for one page
here. This reads the submission's grades and comments in two and answers the cells from them;
a cell they do not hold is looked up as nbgrader does, so its errors stay nbgrader's.
"""
from __future__ import annotations

from nbgrader.api import Comment, Grade, GradeCell, SolutionCell
from nbgrader.preprocessors import GetGrades


class GetGradesAtOnce(GetGrades):
    """GetGrades, its per-cell lookups answered from one read of the submission's rows."""

    def preprocess(self, nb, resources):
        self._grades = self._comments = None
        return super().preprocess(nb, resources)

    def _read(self) -> None:
        notebook = self.gradebook.find_submission_notebook(self.notebook_id, self.assignment_id, self.student_id)
        db = self.gradebook.db
        self._grades = dict(db.query(GradeCell.name, Grade).join(Grade, Grade.cell_id == GradeCell.id)
                            .filter(Grade.notebook_id == notebook.id))
        self._comments = dict(db.query(SolutionCell.name, Comment).join(Comment, Comment.cell_id == SolutionCell.id)
                              .filter(Comment.notebook_id == notebook.id))

    def _get_comment(self, cell, resources) -> None:
        if self._comments is None:
            self._read()
        comment = self._comments.get(cell.metadata["nbgrader"]["grade_id"])
        if comment is None:
            return super()._get_comment(cell, resources)
        cell.metadata.nbgrader["comment"] = comment.comment

    def _get_score(self, cell, resources) -> None:
        if self._grades is None:
            self._read()
        grade = self._grades.get(cell.metadata["nbgrader"]["grade_id"])
        if grade is None:
            return super()._get_score(cell, resources)
        cell.metadata.nbgrader["score"] = grade.score
        cell.metadata.nbgrader["points"] = grade.max_score
