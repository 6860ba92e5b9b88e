"""Background services this project starts on the machine, such as `mlflow server`: each
leads its own process group, so stopping it stops its workers too."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from collections.abc import Sequence

POLL_SECONDS = 0.2

# A signal and how long the group gets to end after it before the next one is sent.
Escalation = Sequence[tuple[signal.Signals, float]]
TERMINATE_THEN_KILL: Escalation = ((signal.SIGTERM, 30.0), (signal.SIGKILL, 5.0))


def is_port_free(host: str, port: int) -> bool:
    """Whether a server could listen on host:port now."""
    with socket.socket() as probe:
        # As servers do, so a port left in TIME_WAIT by a stopped server counts as free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def is_group_alive(pgid: int) -> bool:
    """Whether any process of the group is left (reaping the leader if it is our child)."""
    # An exited child of ours stays a zombie, and so alive to killpg, until it is reaped.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pgid, os.WNOHANG)
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_group(pgid: int, escalation: Escalation = TERMINATE_THEN_KILL) -> signal.Signals | None:
    """Send the group each signal in turn until it is gone.

    Returns the signal after which the group ended, or None when it had already ended or
    outlived every signal.
    """
    for sig, grace in escalation:
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return None
        deadline = time.monotonic() + grace
        while is_group_alive(pgid):
            if time.monotonic() > deadline:
                break
            time.sleep(POLL_SECONDS)
        else:
            return sig
    return None
