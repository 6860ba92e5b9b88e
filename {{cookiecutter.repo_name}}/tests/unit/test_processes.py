"""Process groups and ports of the background services the project starts locally."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys

from src.processes import is_group_alive, is_port_free, stop_group

# A leader with a child of its own, both ignoring SIGTERM like a server stuck in shutdown.
STUBBORN_GROUP = (
    "import signal, subprocess, sys, time; "
    "signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "subprocess.Popen([sys.executable, '-c', "
    "'import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(120)']); "
    "print('ready', flush=True); time.sleep(120)"
)


def start_group(script: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"
    return process


def test_a_group_that_ignores_sigterm_ends_with_the_next_signal() -> None:
    process = start_group(STUBBORN_GROUP)
    ended_by = stop_group(process.pid, ((signal.SIGTERM, 0.5), (signal.SIGKILL, 10.0)))
    assert ended_by is signal.SIGKILL
    assert not is_group_alive(process.pid)


def test_a_group_that_honours_sigterm_ends_with_it() -> None:
    process = start_group("import time; print('ready', flush=True); time.sleep(120)")
    assert stop_group(process.pid, ((signal.SIGTERM, 10.0), (signal.SIGKILL, 10.0))) is (
        signal.SIGTERM
    )
    assert process.poll() is not None


def test_stopping_a_group_that_has_ended_sends_nothing() -> None:
    process = start_group("print('ready', flush=True)")
    process.wait(timeout=30)
    assert not is_group_alive(process.pid)
    assert stop_group(process.pid) is None


def test_a_port_is_free_only_while_nobody_listens_on_it() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        assert not is_port_free("127.0.0.1", port)
    assert is_port_free("127.0.0.1", port)
