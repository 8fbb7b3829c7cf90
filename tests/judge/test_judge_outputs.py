"""The judge's child reports a cell's outputs as plain dicts; the trusted side keeps exactly the
well-formed ones, as nbformat would build them, and drops the rest."""
import nbformat
from nbformat.v4 import new_output

from autograder.pipeline.steps.judge_verdicts import cell_outputs

GOOD = [
    {"output_type": "stream", "name": "stdout", "text": "difference = 1e-9\n"},
    {"output_type": "execute_result", "data": {"text/plain": "3.0001"}},
    {"output_type": "display_data", "data": {"image/png": "iVBORw0KGgo=", "text/plain": "<Figure 1>"}},
    {"output_type": "error", "ename": "ValueError", "evalue": "shapes", "traceback": ["line 1", "line 2"]},
]


def test_well_formed_outputs_are_kept_as_nbformat_builds_them():
    expected = [new_output("stream", name="stdout", text="difference = 1e-9\n"),
                new_output("execute_result", data={"text/plain": "3.0001"}, execution_count=None),
                new_output("display_data", data={"image/png": "iVBORw0KGgo=", "text/plain": "<Figure 1>"}),
                new_output("error", ename="ValueError", evalue="shapes", traceback=["line 1", "line 2"])]
    assert cell_outputs(GOOD) == expected


def test_malformed_outputs_are_dropped_and_the_rest_kept():
    bad = [{"output_type": "stream", "name": "stdout"},              # no text
           {"output_type": "execute_result"},                          # no data
           {"output_type": "display_data", "data": "not a bundle"},
           {"output_type": "update_display_data", "data": {}},
           {"output_type": "error", "ename": "E", "evalue": "v", "traceback": 7},
           "not a dict", None]
    kept = cell_outputs([bad[0], GOOD[0], bad[1], bad[2], GOOD[1], bad[3], bad[4], bad[5], bad[6], GOOD[3]])
    assert [o.output_type for o in kept] == ["stream", "execute_result", "error"]
    assert kept[0].text == GOOD[0]["text"]
    nbformat.validate(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(outputs=kept)]))
    assert cell_outputs("not a list") == []


def test_when_the_cell_fails_validation_only_the_invalid_outputs_go():
    from autograder.pipeline.steps.judge_verdicts import valid_outputs

    def strict(outputs):
        return valid_outputs(outputs) and not any(o.get("name") == "forged" for o in outputs)
    forged = {"output_type": "stream", "name": "forged", "text": "x"}
    assert [o.output_type for o in cell_outputs([GOOD[0], forged, GOOD[3]], valid=strict)] == ["stream", "error"]
