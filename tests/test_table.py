"""mumax3 table.txt parsing."""

import numpy as np
import pytest

from dwsynapse.table import TableError, parse_table, read_table

# As mumax3 writes it: header with units in parentheses, tab separated, float64 time, float32 values.
MUMAX_TABLE = (
    "# t (s)\tmx ()\tmy ()\tmz ()\n"
    "0\t0.001\t-0.002\t-0.8\n"
    "1e-10\t0.0015\t0.013\t-0.79\n"
    "2.0000000000000004e-10\t0.002\t0.02\t-0.75\n"
)


def test_parses_mumax_layout(tmp_path):
    p = tmp_path / "table.txt"
    p.write_text(MUMAX_TABLE)
    t = read_table(p)
    assert t.names == ["t", "mx", "my", "mz"] and t.units == ["s", "", "", ""]
    np.testing.assert_allclose(t.column("t"), [0, 1e-10, 2e-10])
    np.testing.assert_allclose(t.column("mz"), [-0.8, -0.79, -0.75])


def test_extra_columns_and_empty_table():
    t = parse_table("# t (s)\tmx ()\tmy ()\tmz ()\tE_total (J)\n1e-12\t0\t0\t1\t-3e-19\n")
    assert t.column("E_total")[0] == pytest.approx(-3e-19)
    assert t.units[-1] == "J"
    assert parse_table("# t (s)\tmx ()\tmy ()\tmz ()\n").data.shape == (0, 4)


@pytest.mark.parametrize(
    "text, words",
    [
        (MUMAX_TABLE[:-10], "truncated"),
        (MUMAX_TABLE[:-1], "truncated"),
        (MUMAX_TABLE.replace("0.013", "nan?"), "non-numeric"),
        (MUMAX_TABLE.replace("\t0.0015", ""), "wrong number of columns"),
        ("0\t1\n", "header"),
        ("# mx ()\tmy ()\n", "first column must be 't"),
        ("# t (s)\tmx\n", "malformed column header"),
    ],
)
def test_malformed_tables_fail_clearly(tmp_path, text, words):
    p = tmp_path / "table.txt"
    p.write_text(text)
    with pytest.raises(TableError, match=words) as exc:
        read_table(p)
    assert str(p) in str(exc.value)


def test_missing_column_and_file(tmp_path):
    with pytest.raises(TableError, match="no column 'ext_dwpos'"):
        parse_table(MUMAX_TABLE).column("ext_dwpos")
    with pytest.raises(TableError, match="cannot read"):
        read_table(tmp_path / "none.txt")


def test_incomplete_last_row_can_be_dropped_after_a_crash():
    t = parse_table(MUMAX_TABLE + "3e-10\t0.00", drop_incomplete_last=True)
    assert t.data.shape == (3, 4)
    with pytest.raises(TableError, match="truncated"):
        parse_table(MUMAX_TABLE + "3e-10\t0.00")
