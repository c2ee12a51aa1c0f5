"""Structured logs: one JSON object per line, with the request id and without secrets."""

from __future__ import annotations

import json
import logging

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
