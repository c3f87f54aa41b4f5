"""The CLI's rough edges, smoothed: field errors in plain words, full-width tables when piped."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from models.fanout import FanoutIssue
from models.officer import OfficerRow
from yingji.core.errors import plain_errors


def errors_of(model: type, **data: object) -> str:
    with pytest.raises(ValidationError) as caught:
        model(**data)
    return plain_errors(caught.value.errors())  # type: ignore[arg-type]


def test_field_errors_name_the_field_and_say_what_it_must_be() -> None:
    said = errors_of(
        FanoutIssue,
        warning_id="a b",
        title="题" * 201,
        district="",
        issued_by="值班员",
        level="town",
        junk=1,
    )
    assert said == (
        "warning_id: may not contain blanks, control characters, ':' or '/'; "
        "title: at most 200 characters; district: must not be empty; "
        "junk: is not a field of this request"
    )
    assert "String should" not in said and "pattern" not in said


def test_a_phone_is_described_not_its_regular_expression() -> None:
    fields = set(OfficerRow.model_fields)
    data = {f: "x" for f in fields if OfficerRow.model_fields[f].is_required()}
    data["phone"] = "call me"
    said = errors_of(OfficerRow, **data)
    assert "phone: must be a phone number" in said and "\\d" not in said


def test_tables_are_not_cut_at_80_columns_when_piped() -> None:
    from rich.table import Table

    from yingji.cli.common import out

    table = Table("单位", "说明")
    table.add_row("嘉定工业区", "很长的说明" * 30)
    with out.capture() as captured:
        out.print(table)
    text = captured.get()
    assert "很长的说明" * 30 in text and "…" not in text
