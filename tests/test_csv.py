"""The one CSV reader (lstmkit._csv, on the stdlib csv module) and the CLI that uses it."""

import io

import numpy as np
import pytest

from lstmkit._csv import from_text, numbers, read_table
from lstmkit.cli import main


def test_header_is_detected_and_quoted_cells_are_one_cell():
    table = from_text('"level, ppm",other\n1,2\n\n"3",4\n')
    assert table.header == ["level, ppm", "other"] and table.lines == [2, 4]
    np.testing.assert_array_equal(numbers(table), [[1, 2], [3, 4]])
    np.testing.assert_array_equal(numbers(table, ["other"]), [[2], [4]])
    assert from_text("1,2\n3,4\n").header is None  # no header: the first row is data


def test_a_byte_order_mark_and_crlf_are_read(tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes("\ufeffa,b\r\n1,2\r\n".encode())
    table = read_table(path)
    assert table.header == ["a", "b"]
    np.testing.assert_array_equal(numbers(table, ["b"]), [[2]])


@pytest.mark.parametrize("text, kwargs, message", [
    ("", {}, "is empty"),
    ("a,b\n", {}, "header row but no data rows"),
    ("a,b\n1,x\n", {}, "line 2: column 'b' is not numeric: 'x'"),
    ("a,b\n1,2\n3\n", {}, r"rows have different numbers of values \[1, 2\]"),
    ("a,b\n1,\n", {"allow_empty": False}, "line 2: column 'b' is empty"),
    ("a,b\n1,2\n", {"columns": ["c"]}, "column\\(s\\) c not in <csv>; it has: a, b"),
])
def test_errors_name_the_line_and_column(text, kwargs, message):
    with pytest.raises(ValueError, match=message):
        numbers(from_text(text), **kwargs)


def test_a_file_object_and_a_missing_path():
    assert read_table(io.StringIO("1\n")).rows == [["1"]]
    with pytest.raises(OSError, match="no such CSV file"):
        read_table("/nonexistent/x.csv")


def test_predict_reads_a_quoted_header(tmp_path, capsys):
    model = tmp_path / "m.keras"
    import lstmkit as lk

    lk.Sequential([lk.Input((3, 2)), lk.layers.LSTM(2)]).save(model)
    x = np.arange(12, dtype="float32").reshape(2, 6) / 10
    rows = "\n".join(",".join(str(v) for v in row) for row in x)
    (tmp_path / "x.csv").write_text('"t0, a","t0, b",c,d,e,f\n' + rows + "\n")
    code = main(["predict", str(model), "-i", str(tmp_path / "x.csv"),
                 "-o", str(tmp_path / "y.npy")])
    assert code == 0, capsys.readouterr().err
    expected = lk.models.load_model(model).predict(x.reshape(2, 3, 2), verbose=0)
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), expected, rtol=1e-6)
    (tmp_path / "bad.csv").write_text("1,2,3,4,5,6\n1,2,,4,5,6\n")
    assert main(["predict", str(model), "-i", str(tmp_path / "bad.csv"),
                 "-o", str(tmp_path / "y.npy")]) == 2
    assert "bad.csv line 2: column '3' is empty" in capsys.readouterr().err
