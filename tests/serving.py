"""A real ``aioir serve`` process for the tests that drive it over HTTP (tests/commands and
tests/reliability): a free localhost port, waiting until it answers, stopping it."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

import pytest


def free_port() -> int:
    """A localhost port nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running(proc: subprocess.Popen, port: int, timeout: float = 180.0) -> Iterator[str]:
    """Wait until ``proc`` (an ``aioir serve`` on ``port``) answers ``/api/info``, yield its
    base URL, then stop it with SIGTERM (killed if it has not exited 20 s later). A server that
    exits or stays silent for ``timeout`` seconds fails the test with what it printed."""
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            pytest.fail(f"aioir serve exited with {proc.returncode}: {proc.communicate()}")
        try:
            urllib.request.urlopen(base + "/api/info", timeout=2)
            break
        except (urllib.error.URLError, OSError):
            if time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"aioir serve did not answer within {timeout:.0f} s")
            time.sleep(0.3)
    try:
        yield base
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
