"""Leases: at most one run of a step writes for a given data interval at a time.

A lease is a small JSON object in the object store, created with a conditional write
(S3 `If-None-Match: *`, honoured by S3, MinIO and moto; an atomic `link` on the local
folder), so it works the same locally, on compose and on AWS without another service.

Objects are numbered generations, `leases/<name>/<scope>/<generation>.json`; the highest
generation holds the lease. The holder renews it from a background thread while it works;
releasing marks it released. A run that crashes (even SIGKILL) stops renewing, so its
lease expires after `ttl_seconds` and the next run takes over by creating the next
generation, which only one contender can do. A holder that finds a newer generation has
lost the lease (it stalled past its expiry) and `confirm` raises before it writes again.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass

from src.data.aws_integration import ObjectStore
from src.errors import ProjectError
from src.names import LEASES_PREFIX

logger = logging.getLogger(__name__)

GENERATION_DIGITS = 10


class LeaseHeldError(ProjectError):
    """Another run holds the lease and did not release it within the wait."""


class LeaseLostError(ProjectError):
    """This run's lease expired and another run took over: it must not write."""


@dataclass(frozen=True)
class LeasePolicy:
    """How long a lease lives without renewal and how long a contender waits for one."""

    ttl_seconds: float = 120.0
    wait_seconds: float = 0.0
    poll_seconds: float = 1.0


@dataclass(frozen=True)
class LeaseRecord:
    owner: str
    generation: int
    expires_at: float
    released: bool = False

    def to_bytes(self) -> bytes:
        return json.dumps(self.__dict__).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> LeaseRecord:
        content = json.loads(data)
        return cls(
            owner=str(content["owner"]),
            generation=int(content["generation"]),
            expires_at=float(content["expires_at"]),
            released=bool(content.get("released", False)),
        )

    def is_free(self, now: float) -> bool:
        return self.released or self.expires_at <= now


def lease_scope_prefix(name: str, scope: str) -> str:
    safe_scope = scope.replace("/", "_").replace(" ", "_")
    return f"{LEASES_PREFIX}/{name}/{safe_scope}/"


def describe_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Lease:
    """One held lease; `confirm` before each write, `release` when done."""

    def __init__(
        self, store: ObjectStore, prefix: str, record: LeaseRecord, policy: LeasePolicy
    ) -> None:
        self.store = store
        self.prefix = prefix
        self.record = record
        self.policy = policy
        self._lost: str | None = None
        self._stop = threading.Event()
        self._renewer = threading.Thread(target=self._renew_until_stopped, daemon=True)

    @property
    def key(self) -> str:
        return generation_key(self.prefix, self.record.generation)

    def start_renewing(self) -> None:
        self._renewer.start()

    def confirm(self) -> None:
        """Raise if another run took the lease over: writing now could clobber its rows."""
        if self._lost is None and _highest_generation(self.store, self.prefix) != (
            self.record.generation
        ):
            self._lost = "a newer generation exists"
        if self._lost is not None:
            raise LeaseLostError(
                f"lost the lease {self.prefix} ({self._lost}); another run took over, "
                "so this one stops without writing more"
            )

    def release(self) -> None:
        self._stop.set()
        if self._renewer.is_alive():
            self._renewer.join()
        if self._lost is None and _highest_generation(self.store, self.prefix) == (
            self.record.generation
        ):
            released = LeaseRecord(self.record.owner, self.record.generation, 0.0, released=True)
            self.store.put_bytes(self.key, released.to_bytes())

    def _renew_until_stopped(self) -> None:
        interval = max(self.policy.ttl_seconds / 3, 0.05)
        while not self._stop.wait(interval):
            try:
                if _highest_generation(self.store, self.prefix) != self.record.generation:
                    self._lost = "a newer generation exists"
                    return
                renewed = LeaseRecord(
                    self.record.owner,
                    self.record.generation,
                    time.time() + self.policy.ttl_seconds,
                )
                self.store.put_bytes(self.key, renewed.to_bytes())
            except ProjectError:
                # The store is briefly unreachable: the next renewal tries again, and the
                # ttl leaves two more chances before the lease can expire.
                logger.warning("renewing the lease %s failed", self.prefix, exc_info=True)


def generation_key(prefix: str, generation: int) -> str:
    return f"{prefix}{generation:0{GENERATION_DIGITS}d}.json"


def _generations(store: ObjectStore, prefix: str) -> list[int]:
    numbers = []
    for key in store.list_keys(prefix):
        stem = key[len(prefix) :].removesuffix(".json")
        if stem.isdigit():
            numbers.append(int(stem))
    return sorted(numbers)


def _highest_generation(store: ObjectStore, prefix: str) -> int | None:
    generations = _generations(store, prefix)
    return generations[-1] if generations else None


def _try_acquire(
    store: ObjectStore, prefix: str, owner: str, policy: LeasePolicy
) -> tuple[Lease | None, LeaseRecord | None]:
    """The lease, or None and the record of whoever holds it."""
    highest = _highest_generation(store, prefix)
    if highest is not None:
        try:
            current = LeaseRecord.from_bytes(store.get_bytes(generation_key(prefix, highest)))
        except ProjectError:
            return None, None  # cleaned up between listing and reading: look again
        if not current.is_free(time.time()):
            return None, current
    generation = 0 if highest is None else highest + 1
    record = LeaseRecord(owner, generation, time.time() + policy.ttl_seconds)
    if not store.put_bytes_if_absent(generation_key(prefix, generation), record.to_bytes()):
        return None, None  # another contender created this generation first
    if _highest_generation(store, prefix) != generation:
        return None, None  # a contender with a stale listing went past us: it holds it
    for older in _generations(store, prefix):
        if older < generation:
            store.delete(generation_key(prefix, older))
    return Lease(store, prefix, record, policy), None


def acquire_lease(store: ObjectStore, name: str, scope: str, policy: LeasePolicy) -> Lease:
    """Take the lease `name` for `scope` (a data interval), waiting up to the policy's wait."""
    prefix = lease_scope_prefix(name, scope)
    owner = describe_owner()
    deadline = time.monotonic() + policy.wait_seconds
    announced = False
    while True:
        lease, holder = _try_acquire(store, prefix, owner, policy)
        if lease is not None:
            lease.start_renewing()
            return lease
        if time.monotonic() >= deadline:
            held_by = f"held by {holder.owner}, " if holder else ""
            raise LeaseHeldError(
                f"another run of {name} for {scope} is writing ({held_by}lease "
                f"{store.uri(prefix)}); waited {policy.wait_seconds:g} s "
                "(LEASE__WAIT_SECONDS). Run again once it finished; a crashed run's lease "
                f"expires {policy.ttl_seconds:g} s after its last renewal (LEASE__TTL_SECONDS)"
            )
        if not announced and holder is not None:
            logger.warning(
                "waiting for the lease of %s for %s, held by %s", name, scope, holder.owner
            )
            announced = True
        time.sleep(min(policy.poll_seconds, max(deadline - time.monotonic(), 0.0)))


@contextmanager
def hold_lease(store: ObjectStore, name: str, scope: str, policy: LeasePolicy) -> Iterator[Lease]:
    lease = acquire_lease(store, name, scope, policy)
    try:
        yield lease
    finally:
        lease.release()


LeaseGuard = Callable[[str, str], AbstractContextManager[object]]


def unguarded(name: str, scope: str) -> AbstractContextManager[object]:
    """No lease: for callers that run alone by construction (a test's private lake)."""
    return nullcontext()


def build_lease_guard(store: ObjectStore, policy: LeasePolicy) -> LeaseGuard:
    """`guard(name, scope)`: the context manager that holds that lease."""
    return lambda name, scope: hold_lease(store, name, scope, policy)
