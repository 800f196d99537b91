"""Where a group-read stream may be trimmed: below what every group is done with."""

from __future__ import annotations

from libs.common.domain.ids import AccountId
from libs.common.stream_trim import after, group_trimmed_streams, min_id, trim_point
from libs.common.topology import AUDIT, CONTROL, ORDERS_APPROVED, ORDERS_EVENTS, ORDERS_REQUESTS

KEEP_ALL = "99999999999999-0"


def test_ids_compare_as_numbers_not_text() -> None:
    assert min_id("10-0", "9-5") == "9-5"
    assert after("9-5") == "9-6"


def test_a_stream_without_groups_is_not_trimmed() -> None:
    assert trim_point([], {}, KEEP_ALL) is None


def test_the_slowest_group_sets_the_point_pending_entries_included() -> None:
    done = {"name": "risk", "pending": 0, "last-delivered-id": "500-0"}
    behind = {"name": "positions", "pending": 2, "last-delivered-id": "400-0"}
    assert trim_point([done, behind], {"positions": "300-1"}, KEEP_ALL) == "300-1"
    assert trim_point([done], {}, KEEP_ALL) == "500-1"


def test_a_group_that_read_nothing_keeps_everything() -> None:
    fresh = {"name": "router", "pending": 0, "last-delivered-id": "0-0"}
    assert trim_point([fresh], {}, KEEP_ALL) == "0-1"


def test_pending_entries_whose_oldest_is_unknown_stop_the_trim() -> None:
    behind = {"name": "positions", "pending": 2, "last-delivered-id": "400-0"}
    assert trim_point([behind], {}, KEEP_ALL) is None


def test_the_recent_window_is_kept_even_when_every_group_is_done() -> None:
    done = {"name": "risk", "pending": 0, "last-delivered-id": "500-0"}
    assert trim_point([done], {}, "200-0") == "200-0"


def test_every_stream_a_group_reads_is_trimmed_by_its_groups_each_accounts_and_the_desks() -> None:
    accounts = (AccountId("default"), AccountId("alpha"))
    families = (ORDERS_APPROVED, ORDERS_EVENTS, ORDERS_REQUESTS, CONTROL)
    trimmed = [AUDIT, *(family.of(a) for family in families for a in accounts)]
    trimmed += [CONTROL.desk, ORDERS_REQUESTS.desk]

    assert group_trimmed_streams(accounts) == sorted(trimmed, key=lambda s: s.name)
    assert (AUDIT.keep, CONTROL.of(accounts[0]).keep) == (500_000, 10_000)  # read by range
