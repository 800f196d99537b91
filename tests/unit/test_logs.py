"""Service log lines: one line each, ISO-8601 UTC time, level, service, instance, the order's
correlation id; and one clean line, not a traceback per loop, when Redis goes away."""

from __future__ import annotations

import asyncio
import io
import logging
import logging.config
import re
from collections.abc import Iterator

import pytest
import uvicorn.config
from redis.exceptions import ConnectionError as RedisConnectionError

from libs.common import logs
from libs.common.logs import (
    ContextFilter,
    LineFormatter,
    RedisLossFilter,
    configure_logging,
    correlation,
    redis_where,
)

LINE = re.compile(
    r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (?P<level>[A-Z]+) (?P<service>\S+) "
    r"(?P<instance>\S+) (?:\[cid=(?P<cid>[^\]]+)\] )?(?P<logger>\S+): (?P<message>.*)$"
)


def _record(
    message: str = "hello", *, error: BaseException | None = None, name: str = "test.logger"
) -> logging.LogRecord:
    exc_info = (type(error), error, error.__traceback__) if error is not None else None
    return logging.LogRecord(name, logging.WARNING, __file__, 1, message, None, exc_info)


def _line(record: logging.LogRecord, service: str = "router", instance: str = "r-1") -> str:
    ContextFilter(service, instance).filter(record)
    return LineFormatter().format(record)


def _raised(error: BaseException) -> BaseException:
    try:
        raise error
    except BaseException as caught:
        return caught


def _redis_down() -> BaseException:
    """A redis-py connection error caused by a refused connection, as a pool raises it."""
    try:
        try:
            raise ConnectionRefusedError(111, "Connection refused")
        except ConnectionRefusedError as refused:
            raise RedisConnectionError("Error 111 connecting to 127.0.0.1:6390.") from refused
    except RedisConnectionError as error:
        return error


@pytest.fixture(autouse=True)
def not_stopping(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logs, "_stopping", False)


def test_a_line_has_utc_time_level_service_instance_logger_and_message() -> None:
    line = _line(_record("placed BTCUSDT"))
    found = LINE.match(line)
    assert found is not None, line
    assert found.group("level", "service", "instance", "logger", "message") == (
        "WARNING",
        "router",
        "r-1",
        "test.logger",
        "placed BTCUSDT",
    )
    assert found.group("cid") is None
    assert "[cid=" not in line


def test_a_line_inside_a_correlation_carries_the_client_order_id() -> None:
    with correlation("strat-42"):
        line = _line(_record())
    assert " [cid=strat-42] test.logger: hello" in line
    assert "[cid=" not in _line(_record())


def test_the_correlation_id_follows_into_tasks_started_inside_it() -> None:
    async def main() -> str:
        with correlation("gw-7"):
            return await asyncio.create_task(_in_task())

    async def _in_task() -> str:
        return _line(_record())

    assert "[cid=gw-7]" in asyncio.run(main())


def test_a_record_can_name_its_correlation_id_itself() -> None:
    record = _record()
    record.cid = "own-1"
    with correlation("outer"):
        assert "[cid=own-1]" in _line(record)


def test_a_traceback_stays_on_its_line() -> None:
    line = _line(_record("failed", error=_raised(ValueError("bad\nvalue"))))
    assert "\n" not in line
    assert LINE.match(line) is not None
    assert "failed\\nTraceback (most recent call last):\\n" in line
    assert line.endswith("ValueError: bad\\nvalue")


def test_redis_where_names_host_and_port_never_the_password() -> None:
    assert redis_where("redis://user:s3cret@10.0.0.5:6380/0") == "10.0.0.5:6380"
    assert redis_where("redis://localhost/0") == "localhost:6379"
    assert redis_where("unix:///run/redis.sock") == "/run/redis.sock"


def test_lost_redis_is_one_line_without_traceback_and_the_storm_is_dropped() -> None:
    loss = RedisLossFilter("127.0.0.1:6390")
    first = _record("poll failed; retrying", error=_redis_down())
    assert loss.filter(first)
    line = _line(first)
    assert "Traceback" not in line and "\\n" not in line
    assert LINE.match(line) is not None
    assert "ERROR router r-1 test.logger: lost Redis at 127.0.0.1:6390 (ConnectionError:" in line
    assert "poll failed; retrying; Redis connection errors are not logged again for 60 s" in line
    storm = [_record("poll failed", error=_redis_down()) for _ in range(20)]
    assert [loss.filter(r) for r in storm] == [False] * 20


def test_other_errors_pass_untouched_while_redis_is_lost() -> None:
    loss = RedisLossFilter("127.0.0.1:6390")
    assert loss.filter(_record(error=_redis_down()))
    other = _record("bad order", error=_raised(ValueError("qty")))
    assert loss.filter(other)
    assert other.exc_info is not None
    assert "Traceback" in _line(other)


def test_lost_redis_while_stopping_says_stopping_once() -> None:
    loss = RedisLossFilter("127.0.0.1:6390")
    logs.mark_stopping()
    first = _record("could not leave the group", error=_redis_down())
    assert loss.filter(first)
    assert _line(first).endswith(
        "lost Redis at 127.0.0.1:6390 (ConnectionError: Error 111 connecting to "
        "127.0.0.1:6390.); stopping"
    )
    assert not loss.filter(_record(error=_redis_down()))


def test_redis_still_lost_after_the_quiet_time_is_counted_in_one_line() -> None:
    loss = RedisLossFilter("127.0.0.1:6390", quiet_s=0.0)
    assert loss.filter(_record(error=_redis_down()))
    again = _record(error=_redis_down())
    assert loss.filter(again)
    assert "still no Redis at 127.0.0.1:6390" in again.getMessage()


@pytest.fixture
def root_logger() -> Iterator[logging.Logger]:
    """The root logger, given back as it was."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield root
    finally:
        for handler in root.handlers[:]:
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)


def test_configure_logging_writes_every_logger_through_one_line_format(
    root_logger: logging.Logger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(logs.LEVEL_ENV, raising=False)
    handler = configure_logging("risk", "k-2", redis_url="redis://:pw@127.0.0.1:6390/0")
    assert isinstance(handler, logging.StreamHandler)
    out = io.StringIO()
    handler.setStream(out)
    logging.getLogger("uvicorn.error").info("Started server process [%d]", 42)
    logging.getLogger("services.risk").debug("not at INFO")
    try:
        raise _redis_down()
    except RedisConnectionError:
        logging.getLogger("libs.common.bus_loop").exception("poll failed")
    lines = out.getvalue().splitlines()
    assert [LINE.match(line) is not None for line in lines] == [True, True], lines
    assert " INFO risk k-2 uvicorn.error: Started server process [42]" in lines[0]
    assert "lost Redis at 127.0.0.1:6390" in lines[1] and "pw" not in lines[1]
    assert root_logger.level == logging.INFO


def test_configure_logging_level_comes_from_mmx_log_level_or_an_earlier_lower_setting(
    root_logger: logging.Logger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(logs.LEVEL_ENV, "warning")
    configure_logging("gateway", "g-1")
    assert root_logger.level == logging.WARNING
    monkeypatch.delenv(logs.LEVEL_ENV)
    root_logger.setLevel(logging.DEBUG)  # as a sitecustomize's basicConfig(level=DEBUG) leaves it
    configure_logging("gateway", "g-1")
    assert root_logger.level == logging.DEBUG
    assert len(root_logger.handlers) == 1


def test_configure_logging_takes_uvicorn_loggers_back_from_uvicorns_own_config(
    root_logger: logging.Logger,
) -> None:
    """uvicorn's default dictConfig (run earlier in the process) gives its loggers their own
    handlers and no propagation: they would bypass the one-line format."""
    logging.config.dictConfig(uvicorn.config.LOGGING_CONFIG)
    handler = configure_logging("gateway", "g-1")
    assert isinstance(handler, logging.StreamHandler)
    out = io.StringIO()
    handler.setStream(out)

    logging.getLogger("uvicorn.error").warning("port taken")

    (line,) = out.getvalue().splitlines()
    assert LINE.match(line) is not None and line.endswith("uvicorn.error: port taken")
