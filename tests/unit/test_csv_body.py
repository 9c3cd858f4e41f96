"""Cutting a CSV file into chunks of whole rows, with the line numbers of the whole file."""

from __future__ import annotations

from services.common.csv_body import decoded, plan_csv, rows_of

COLUMNS = ("code", "title")


def read(data: bytes, chunk: int, max_rows: int = 100) -> tuple[list[tuple[int, dict[str, str]]], list[object]]:
    plan = plan_csv(data, COLUMNS, ("code",), max_rows, chunk)
    text, rows, errors = decoded(data), [], list(plan.errors)
    for start, end, before, _ in plan.chunks:
        parsed = rows_of(text[start:end], plan.header, before)
        rows += parsed.rows
        errors += parsed.errors
    return rows, errors


def test_chunks_keep_rows_whole_and_lines_right_across_their_boundaries() -> None:
    data = '\ufeffcode,title\nA1,"two\nlines"\n\nB2,  b  \nC3,c,extra\nD4,\n'.encode()
    for chunk in (1, 2, 3, 10):
        rows, errors = read(data, chunk)
        assert rows == [
            (3, {"code": "A1", "title": "two\nlines"}),
            (5, {"code": "B2", "title": "b"}),
            (7, {"code": "D4"}),
        ]
        assert errors == [{"line": 6, "field": "", "reason": "more values than columns"}]


def test_the_plan_refuses_encoding_header_and_size_before_any_row() -> None:
    assert plan_csv(b"code\n\xff\n", COLUMNS, ("code",), 10, 5).errors[0]["line"] == 0
    header = plan_csv(b"title,colour\nx,y\n", COLUMNS, ("code",), 10, 5)
    assert header.chunks == []
    assert header.errors[0]["reason"] == "missing column(s): code; unknown column(s): colour"
    assert plan_csv(b"code\n", COLUMNS, ("code",), 10, 5).errors == [{"line": 2, "field": "", "reason": "no rows"}]
    big = plan_csv(b"code\n" + b"A1\n" * 4, COLUMNS, ("code",), 3, 2)
    assert big.rows == 3
    assert big.errors == [{"line": 5, "field": "", "reason": "more than 3 rows"}]
