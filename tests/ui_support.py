"""Helpers test files share: a free port to serve the app on, and polling."""

import socket
import time


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout=120.0, poll=0.5, what="condition"):
    """The first truthy value of predicate(), polled every `poll` seconds; fails after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"{what} not reached within {timeout:.0f} s")
