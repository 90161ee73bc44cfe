"""Tables for the learner: HTML in a notebook, aligned columns in text, numbers in words."""
import pytest

from netlab.view.table import Table


def test_a_table_reads_as_html_and_as_aligned_text():
    t = Table(["method", "CPU copies", "per s"], [["read+send", 2, 4003490.0], ["sendfile", 0, None]], title="copies")
    assert str(t).splitlines() == ["copies",
                                   "method     CPU copies      per s",
                                   "read+send           2  4,003,490",
                                   "sendfile            0        n/a"]
    html = t._repr_html_()
    assert html.count("<tr>") == 3 and "<td style=\"text-align:right\">4,003,490</td>" in html and "copies" in html
    assert "e+06" not in html + str(t)


def test_bad_tables_are_refused():
    with pytest.raises(ValueError, match="cells"):
        Table(["a", "b"], [[1]])
    with pytest.raises(ValueError, match="header"):
        Table("ab", [])
    with pytest.raises(TypeError, match="cell"):
        Table(["a"], [[{"x": 1}]])
