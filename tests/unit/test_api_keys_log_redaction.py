"""No API key in a server log line: the filter the gateway puts on uvicorn's loggers."""

from __future__ import annotations

import logging

import pytest

from libs.common.api_keys import issue_key
from services.gateway.auth import RedactKeys, redact


@pytest.mark.parametrize(
    "template",
    [
        '127.0.0.1:5 - "WebSocket /v1/stream?apiKey={key}" [accepted]',
        '127.0.0.1:5 - "WebSocket /v1/stream?symbols=BTCUSDT&apiKey={key}&x=1" 401',
        '127.0.0.1:5 - "GET /v1/orders?APIKEY={key} HTTP/1.1" 401',
        "a key {key} pasted anywhere",
    ],
)
def test_a_key_in_a_url_or_anywhere_is_redacted(template: str) -> None:
    issued = issue_key()

    clean = redact(template.format(key=issued.key))

    assert issued.secret not in clean
    assert "<redacted>" in clean


def test_a_line_without_a_key_is_left_as_it_is() -> None:
    line = '127.0.0.1:5 - "WebSocket /v1/stream?symbols=BTCUSDT" [accepted]'

    assert redact(line) == line


def test_the_filter_rewrites_the_formatted_record_and_keeps_it() -> None:
    issued = issue_key()
    record = logging.LogRecord(
        "uvicorn.error", logging.INFO, __file__, 1, '%s - "WebSocket %s" [accepted]',
        ("127.0.0.1:5", f"/v1/stream?apiKey={issued.key}"), None,
    )  # fmt: skip

    kept = RedactKeys().filter(record)

    assert kept is True
    assert (
        record.getMessage() == '127.0.0.1:5 - "WebSocket /v1/stream?apiKey=<redacted>" [accepted]'
    )
