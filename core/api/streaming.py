"""Streamed CSV and JSON exports: rows are written as they are read, never all in memory."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.http import StreamingHttpResponse


class _Echo:
    """A file-like object whose write() hands the line back (csv.writer → generator)."""

    def write(self, value: str) -> str:
        return value


def csv_lines(rows: Iterable[dict[str, Any]], header: Sequence[str]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(header)
    for row in rows:
        yield writer.writerow(["" if row.get(h) is None else _cell(row[h]) for h in header])


def _cell(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return " ".join(str(v) for v in value)
    return value


def json_array(rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    yield "["
    first = True
    for row in rows:
        yield ("" if first else ",") + json.dumps(row, cls=DjangoJSONEncoder)
        first = False
    yield "]"


def export_response(
    rows: Iterable[dict[str, Any]], *, output: str, header: Sequence[str], filename: str
) -> StreamingHttpResponse:
    """`output` is "csv" or "json"; the download is named `<filename>.<output>`."""
    if output == "json":
        response = StreamingHttpResponse(json_array(rows), content_type="application/json")
    else:
        response = StreamingHttpResponse(csv_lines(rows, header), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="{filename}.{output}"'
    return response
