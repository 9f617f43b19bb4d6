"""recon.exprs.formatted: polars' format without its panic on frames with empty chunks."""

from __future__ import annotations

import polars as pl
import pytest

from recon.exprs import formatted


def _filtered_in_chunks() -> pl.DataFrame:
    """Four chunks of three rows, filtered down to the first and the last row: the two middle
    chunks are left empty, as a filter of a large loaded file can leave them."""
    parts = [
        pl.DataFrame({"line": [3 * i, 3 * i + 1, 3 * i + 2], "side": ["a", None, "c"]})
        for i in range(4)
    ]
    frame = pl.concat(parts, rechunk=False).with_columns(source=pl.lit("pos.csv"))
    return frame.filter(pl.Series([True] + [False] * 10 + [True]))


def test_formatted_fills_a_filtered_frame_whose_chunks_are_left_empty():
    frame = _filtered_in_chunks()
    assert [len(c) for c in frame["line"].get_chunks()] == [1, 0, 0, 1]
    for engine in ("in-memory", "streaming"):
        got = frame.lazy().select(formatted("{}:{}", "source", "line")).collect(engine=engine)
        assert got.to_series().to_list() == ["pos.csv:0", "pos.csv:11"]
    made = frame.select(id=formatted("P-{}-{}#", pl.col("line") * 2, "side"))["id"]
    assert made.to_list() == ["P-0-a#", "P-22-c#"]


def test_formatted_is_what_polars_format_gives_on_whole_frames():
    """The same texts, nulls (a null argument: a null text) and column name."""
    frame = pl.DataFrame({"a": ["x", None, "z"], "b": [1, 2, None]})
    for template, args in [("{}:{}", ("a", "b")), ("P{}", ("b",)), ("{}", ("a",))]:
        ours = frame.select(formatted(template, *args))
        theirs = frame.select(pl.format(template, *args))  # noqa: TID251 (the reference)
        assert ours.equals(theirs), template
    with pytest.raises(ValueError, match="2 placeholders for 1"):
        formatted("{}:{}", "a")
