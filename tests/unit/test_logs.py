"""Structured logs: one JSON object per line, with the request id and without secrets."""

from __future__ import annotations

import json
import logging
import sys

from familienkarte.logs import JsonFormatter, TextFormatter, request_id_var


def _record(message: str, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("familienkarte.test", logging.INFO, __file__, 1, message, (), None)
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def test_json_line_carries_the_request_id_and_extra_fields() -> None:
    token = request_id_var.set("req-12345678")
    try:
        line = JsonFormatter().format(_record("GET / 200", status=200, path="/"))
    finally:
        request_id_var.reset(token)
    entry = json.loads(line)
    assert entry["msg"] == "GET / 200"
    assert entry["request_id"] == "req-12345678"
    assert entry["status"] == 200
    assert entry["level"] == "info"
    assert "\n" not in line


def test_secrets_passed_as_fields_are_redacted() -> None:
    line = JsonFormatter().format(_record("x", password="hunter2", authorization="Bearer fk_abc", token="t"))
    assert "hunter2" not in line
    assert "fk_abc" not in line
    assert json.loads(line)["password"] == "[redacted]"


def test_text_format_for_people() -> None:
    assert TextFormatter().format(_record("hello")) == "INFO    familienkarte.test: hello"


KEY = "fk_0123456789ab_S3cr3tPartOfTheKeyThatUnlocksIt-xyz_0123456789"
SECRET = KEY.split("_", 2)[2]


def test_secrets_nested_in_fields_are_redacted() -> None:
    line = JsonFormatter().format(
        _record("x", request={"headers": {"Authorization": f"Bearer {KEY}"}, "form": [{"password": "hunter2"}]})
    )
    assert SECRET not in line
    assert "hunter2" not in line
    assert json.loads(line)["request"]["headers"]["Authorization"] == "[redacted]"


def test_an_api_key_in_the_message_or_a_traceback_keeps_only_its_prefix() -> None:
    record = _record("refused key %s", detail=f"token was {KEY}")
    record.args = (KEY,)
    try:
        raise ValueError(f"bad key {KEY}")
    except ValueError:
        record.exc_info = sys.exc_info()
    for formatter in (JsonFormatter(), TextFormatter()):
        line = formatter.format(record)
        assert SECRET not in line
        assert "fk_0123456789ab_[redacted]" in line
