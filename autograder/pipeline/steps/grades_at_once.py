"""nbgrader's SaveAutoGrades and GetGrades with a submission's grades and comments read at once
(trusted side).

Both visit every graded cell and ask the gradebook for its row, one query each (a grade for each
grade cell, a comment for each solution cell: eighteen here); SaveAutoGrades also commits after
each, which makes the next row be read again. These read the submission's rows in two queries
and answer the cells from them; SaveAutoGradesAtOnce commits once, after the last cell (a
notebook that fails half-way is graded as an error and zero-filled either way). A cell the rows
do not hold is looked up as nbgrader does, so its errors stay nbgrader's.
"""
from __future__ import annotations

from nbgrader import utils
from nbgrader.api import Comment, Grade, Gradebook, GradeCell, SolutionCell
from nbgrader.preprocessors import GetGrades, SaveAutoGrades


class _SubmissionRows:
    """The submission's grades and comments by cell name, read on first use in each preprocess."""

    def _read_rows(self) -> None:
        notebook = self.gradebook.find_submission_notebook(self.notebook_id, self.assignment_id, self.student_id)
        db = self.gradebook.db
        self._grades = dict(db.query(GradeCell.name, Grade).join(Grade, Grade.cell_id == GradeCell.id)
                            .filter(Grade.notebook_id == notebook.id))
        self._comments = dict(db.query(SolutionCell.name, Comment).join(Comment, Comment.cell_id == SolutionCell.id)
                              .filter(Comment.notebook_id == notebook.id))

    def _row(self, rows: str, cell):
        if getattr(self, rows) is None:
            self._read_rows()
        return getattr(self, rows).get(cell.metadata["nbgrader"]["grade_id"])


class GetGradesAtOnce(_SubmissionRows, GetGrades):
    """GetGrades (the feedback page's scores and comments), its lookups answered from one read."""

    def preprocess(self, nb, resources):
        self._grades = self._comments = None
        return super().preprocess(nb, resources)

    def _get_comment(self, cell, resources) -> None:
        comment = self._row("_comments", cell)
        if comment is None:
            return super()._get_comment(cell, resources)
        cell.metadata.nbgrader["comment"] = comment.comment

    def _get_score(self, cell, resources) -> None:
        grade = self._row("_grades", cell)
        if grade is None:
            return super()._get_score(cell, resources)
        cell.metadata.nbgrader["score"] = grade.score
        cell.metadata.nbgrader["points"] = grade.max_score


class SaveAutoGradesAtOnce(_SubmissionRows, SaveAutoGrades):
    """SaveAutoGrades, its lookups answered from one read and its changes committed once."""

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        self.notebook_id, self.assignment_id = info["notebook"], info["assignment"]
        self.student_id, self.db_url = info["student"], info["db_url"]
        self._grades = self._comments = None
        self.gradebook = Gradebook(self.db_url)
        with self.gradebook:
            nb, resources = super(SaveAutoGrades, self).preprocess(nb, resources)  # the cells, as nbgrader's
            self.gradebook.db.commit()
        return nb, resources

    def _add_score(self, cell, resources) -> None:
        grade = self._row("_grades", cell)
        if grade is None:
            return super()._add_score(cell, resources)
        auto_score, _ = utils.determine_grade(cell, self.log)
        grade.auto_score = auto_score
        # a grader's earlier score, or no score from the tests: a grader should look (nbgrader's rule)
        grade.needs_manual_grade = grade.manual_score is not None or grade.auto_score is None

    def _add_comment(self, cell, resources) -> None:
        comment = self._row("_comments", cell)
        if comment is None:
            return super()._add_comment(cell, resources)
        unanswered = cell.metadata.nbgrader.get("checksum", None) == utils.compute_checksum(cell) and not utils.is_task(cell)
        comment.auto_comment = "No response." if unanswered else None
