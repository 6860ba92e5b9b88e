"""Leases in the object store: one holder at a time, waits bounded, crashed holders expire."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from src.data.aws_integration import LocalObjectStore
from src.data.leases import (
    LeaseHeldError,
    LeaseLostError,
    LeasePolicy,
    LeaseRecord,
    acquire_lease,
    generation_key,
    hold_lease,
    lease_scope_prefix,
)

NO_WAIT = LeasePolicy(ttl_seconds=60, wait_seconds=0)


def test_a_second_run_exits_naming_the_holder_until_the_first_releases(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path)
    first = acquire_lease(store, "data-pipeline", "2025-01-05", NO_WAIT)
    with pytest.raises(LeaseHeldError, match=r"another run of data-pipeline for 2025-01-05"):
        acquire_lease(store, "data-pipeline", "2025-01-05", NO_WAIT)
    # Another interval, or another step, is not held.
    acquire_lease(store, "data-pipeline", "2025-01-06", NO_WAIT).release()
    acquire_lease(store, "batch-inference", "2025-01-05", NO_WAIT).release()
    first.release()
    second = acquire_lease(store, "data-pipeline", "2025-01-05", NO_WAIT)
    assert second.record.generation == first.record.generation + 1
    second.release()


def test_a_waiting_run_gets_the_lease_once_it_is_released(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path)
    holder = acquire_lease(store, "step", "day", NO_WAIT)
    got: list[int] = []

    def contend() -> None:
        policy = LeasePolicy(ttl_seconds=60, wait_seconds=60, poll_seconds=0.02)
        with hold_lease(store, "step", "day", policy) as lease:
            got.append(lease.record.generation)

    waiter = threading.Thread(target=contend)
    waiter.start()
    holder.release()
    waiter.join(timeout=60)
    assert got == [holder.record.generation + 1]


def test_a_crashed_holders_lease_expires_and_the_holder_may_not_write(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path)
    prefix = lease_scope_prefix("step", "day")
    # What a SIGKILLed run leaves: its record, no longer renewed, expired.
    stale = LeaseRecord(owner="gone:1:dead", generation=0, expires_at=time.time() - 1)
    store.put_bytes(generation_key(prefix, 0), stale.to_bytes())
    taken = acquire_lease(store, "step", "day", NO_WAIT)
    assert taken.record.generation == 1
    assert store.list_keys(prefix) == [generation_key(prefix, 1)]
    taken.confirm()
    taken.release()


def test_a_stalled_holder_learns_it_lost_the_lease(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path)
    stalled = acquire_lease(store, "step", "day", LeasePolicy(ttl_seconds=60, wait_seconds=0))
    stalled._stop.set()  # it stops renewing, as a frozen process would
    expired = LeaseRecord(stalled.record.owner, stalled.record.generation, time.time() - 1)
    store.put_bytes(stalled.key, expired.to_bytes())
    successor = acquire_lease(store, "step", "day", NO_WAIT)
    with pytest.raises(LeaseLostError, match="another run took over"):
        stalled.confirm()
    stalled.release()  # must not free the successor's lease
    with pytest.raises(LeaseHeldError):
        acquire_lease(store, "step", "day", NO_WAIT)
    successor.release()


def test_of_many_simultaneous_contenders_exactly_one_wins(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path)
    start = threading.Barrier(8)
    outcomes: list[str] = []
    lock = threading.Lock()

    def contend() -> None:
        start.wait()
        try:
            acquire_lease(store, "step", "day", NO_WAIT)
            result = "won"
        except LeaseHeldError:
            result = "refused"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=contend) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["refused"] * 7 + ["won"]


def test_the_holder_renews_its_lease_while_it_works(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path)
    lease = acquire_lease(store, "step", "day", LeasePolicy(ttl_seconds=0.3, wait_seconds=0))
    first_expiry = lease.record.expires_at
    deadline = time.monotonic() + 30
    renewed = first_expiry
    while renewed <= first_expiry and time.monotonic() < deadline:
        renewed = LeaseRecord.from_bytes(store.get_bytes(lease.key)).expires_at
        time.sleep(0.02)
    assert renewed > first_expiry
    with pytest.raises(LeaseHeldError):
        acquire_lease(store, "step", "day", NO_WAIT)
    lease.release()
