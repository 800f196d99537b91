"""Suite-wide rules.

Under CI (`CI` set), a skipped test fails the run: every component the suite needs is one
that `make test` installs, so a skip can only mean something is missing.
"""

from __future__ import annotations

import os

import pytest

pytest_plugins = ["tests.redis_fixture", "tests.redis_sentinel", "tests.redis_cluster"]

_skipped: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped:
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _skipped and os.environ.get("CI") and exitstatus == pytest.ExitCode.OK:
        print(f"\nCI: {len(_skipped)} test(s) skipped; a skip in CI hides a missing component:")
        for nodeid in _skipped:
            print(f"  {nodeid}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
