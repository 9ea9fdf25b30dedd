"""Helpers test files share: a home and a free port to serve the app on, and polling."""

import contextlib
import os
import socket
import time


@contextlib.contextmanager
def own_home(tmp_path_factory, name: str = "ui-home"):
    """An empty WORKBENCH_HOME for a module's served app (like `fresh_home`), sharing the built models."""
    from conftest import TEST_HOME
    from workbench.models import build_tiny_model
    build_tiny_model()
    root = tmp_path_factory.mktemp(name)
    (root / "models").symlink_to(TEST_HOME / "models", target_is_directory=True)
    before = os.environ["WORKBENCH_HOME"]
    os.environ["WORKBENCH_HOME"] = str(root)
    try:
        yield root
    finally:
        os.environ["WORKBENCH_HOME"] = before


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
