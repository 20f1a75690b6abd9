"""The metrics.csv reader: the rules for repeated steps and torn lines, on crafted files and on
files the training loop's logger writes (including a resume)."""

from softrl_tf.results import metrics

import numpy as np
import pytest


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_repeated_step_the_last_row_written_wins_as_a_whole_row(tmp_path):
    # Step 20 written three times (a crash after step 20 and two resumes from step 10's checkpoint
    # that replayed it): the last row wins, including its empty "loss" cell. Rows come back sorted.
    path = _write(
        tmp_path / "metrics.csv",
        "step,wall_time,score,loss\n"
        "0,1.0,,9\n"
        "10,2.0,1,8\n"
        "20,3.0,2,7\n"
        "30,4.0,3,6\n"
        "20,5.0,20,5\n"
        "20,6.0,21,\n"
        "30,7.0,31,4\n",
    )
    table = metrics.read_metrics(path)
    assert table.columns == ("step", "wall_time", "score", "loss")
    assert table.metrics == ["score", "loss"]
    np.testing.assert_array_equal(table.steps, [0, 10, 20, 30])
    np.testing.assert_array_equal(table.values["wall_time"], [1, 2, 6, 7])
    np.testing.assert_array_equal(table.values["score"], [np.nan, 1, 21, 31])
    np.testing.assert_array_equal(table.values["loss"], [9, 8, np.nan, 4])
    # A curve keeps the rows where both columns are finite.
    x, y = table.curve("score")
    np.testing.assert_array_equal(x, [10, 20, 30])
    np.testing.assert_array_equal(y, [1, 21, 31])
    x, y = table.curve("loss", x="wall_time")
    np.testing.assert_array_equal(x, [1, 2, 7])
    np.testing.assert_array_equal(y, [9, 8, 4])


def test_unsorted_steps_come_back_sorted_and_a_torn_line_is_dropped(tmp_path):
    path = _write(
        tmp_path / "metrics.csv",
        "step,wall_time,score\n30,1.0,3\n10,2.0,1\n20,3.0,2\n40,4.0,4",  # torn: no newline
    )
    header, rows = metrics.read_rows(path)
    assert header == ["step", "wall_time", "score"]
    assert [row["step"] for row in rows] == ["10", "20", "30"]
    assert rows[0] == {"step": "10", "wall_time": "2.0", "score": "1"}
    # A run directory stands for its metrics.csv.
    np.testing.assert_array_equal(metrics.read_metrics(tmp_path).steps, [10, 20, 30])


def test_short_rows_and_blank_lines(tmp_path):
    path = _write(tmp_path / "metrics.csv", "step,wall_time,a,b\n1,1.0,5\n\n2,2.0,6,7\n")
    table = metrics.read_metrics(path)
    np.testing.assert_array_equal(table.values["b"], [np.nan, 7])


@pytest.mark.parametrize(
    "text, phrase",
    [
        ("a,b\n1,2\n", "its header has no 'step' column"),
        ("", "its header has no 'step' column"),
        ("step,score\n1,x\n", "non-numeric value 'x' in column 'score'"),
        ("step,score\n,3\n", "has a row without a step"),
    ],
)
def test_bad_files_raise_one_sentence_naming_the_file(tmp_path, text, phrase):
    path = _write(tmp_path / "metrics.csv", text)
    with pytest.raises(metrics.MetricsFormatError, match=phrase) as error:
        metrics.read_metrics(path)
    assert str(error.value).startswith(str(path))
    assert isinstance(error.value, ValueError)


def test_a_missing_column_lists_the_available_ones(tmp_path):
    table = metrics.read_metrics(_write(tmp_path / "metrics.csv", "step,wall_time,score\n1,1,1\n"))
    with pytest.raises(metrics.MetricsFormatError, match="no metric 'loss'; available: score."):
        table.curve("loss")
    with pytest.raises(metrics.MetricsFormatError, match="no column 'frames'; available: step,"):
        table.curve("score", x="frames")
