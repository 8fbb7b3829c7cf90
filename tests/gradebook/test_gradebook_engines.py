"""A grading worker's gradebooks share one engine per URL, across nbgrader's many Gradebook
openings and across the fork that renders feedback."""
import os

import nbgrader.api
import pytest
from nbgrader.api import Gradebook

from autograder.pipeline.gradebook import engines


@pytest.fixture
def shared(monkeypatch):
    monkeypatch.setattr(nbgrader.api, "create_engine", nbgrader.api.create_engine)  # put back afterwards
    monkeypatch.setattr(nbgrader.api.Base.metadata, "create_all", nbgrader.api.Base.metadata.create_all)
    engines.install()
    engines.install()  # twice is once
    assert engines.installed()


def test_gradebooks_of_one_url_share_an_engine_and_its_compiled_queries(shared, tmp_path):
    url, other = f"sqlite:///{tmp_path / 'a.db'}", f"sqlite:///{tmp_path / 'b.db'}"
    with Gradebook(url) as first:
        first.add_student("ada")
        engine = first.engine
        compiled = len(engine._compiled_cache)
    with Gradebook(url) as second:
        assert second.engine is engine
        assert [s.id for s in second.students] == ["ada"]
    assert len(engine._compiled_cache) >= compiled > 0
    with Gradebook(other) as third:
        assert third.engine is not engine and third.students == []


def test_a_forked_child_uses_the_gradebook_and_the_parent_keeps_it(shared, tmp_path):
    url = f"sqlite:///{tmp_path / 'g.db'}"
    with Gradebook(url) as gb:
        gb.add_student("parent")
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            with Gradebook(url) as gb:
                gb.add_student("child")
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    with Gradebook(url) as gb:
        assert sorted(s.id for s in gb.students) == ["child", "parent"]


def test_tables_are_made_for_each_new_gradebook_and_checked_once_per_engine(shared, tmp_path):
    for name in ("a.db", "b.db"):
        url = f"sqlite:///{tmp_path / name}"
        with Gradebook(url) as gb:
            gb.add_student(name)  # the tables exist
            engine = gb.engine
        with Gradebook(url) as gb:
            assert [s.id for s in gb.students] == [name]
        assert engines.tables_checked(engine)
    tables = nbgrader.api.inspect(engine).get_table_names()
    assert {"student", "assignment", "grade"} <= set(tables)
