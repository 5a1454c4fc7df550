"""Keeps the fast tier fast: a test not marked slow fails when it starts a process or a server."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

# `pytest -m "not slow"` is the fast tier: every test there runs in this process, with no child
# process and no listening socket. A test that starts one (OpenAITestServer, LocalModelServer,
# the CLI in a subprocess, a pseudo-terminal, code run by LocalExecutor) must say so with
# `pytest.mark.slow`; one that does not is failed here, in either tier, naming what it started.

STARTED = pytest.StashKey[list[str]]()

collect_ignore = ["fixtures"]
"""Recorded run folders kept as test data: their scripts are no test modules (nor doctests)."""

SLOW_DOCTESTS = frozenset({"plancontrol.handlers.interpreter.describe_python"})
"""Doctests in src that start a process (a doctest cannot carry a mark itself)."""


@contextmanager
def _refusing_starts(started: list[str]) -> Iterator[None]:
    """Within the block, starting a process or listening on a socket records what it was and
    fails the test (the record survives a test that catches the failure)."""

    def refuse(what: str) -> None:
        started.append(what)
        pytest.fail(
            f"this test {what} but is not marked slow: add `@pytest.mark.slow` "
            "(or `pytestmark = pytest.mark.slow` for a whole module)",
            pytrace=False,
        )

    execute_child = subprocess.Popen._execute_child  # type: ignore[attr-defined]
    listen = socket.socket.listen
    fork = os.fork

    def guarded_execute_child(self: subprocess.Popen[Any], args: Any, *rest: Any) -> Any:
        refuse(f"starts a process ({args!r})")

    def guarded_listen(self: socket.socket, *args: Any) -> None:
        refuse("starts a server (listens on a socket)")

    def guarded_fork() -> int:
        refuse("forks a process")
        return -1

    replaced: tuple[tuple[Any, str, Callable[..., Any]], ...] = (
        (subprocess.Popen, "_execute_child", guarded_execute_child),
        (socket.socket, "listen", guarded_listen),
        (os, "fork", guarded_fork),
    )
    for owner, name, guard in replaced:
        setattr(owner, name, guard)
    try:
        yield
    finally:
        subprocess.Popen._execute_child = execute_child  # type: ignore[attr-defined]
        socket.socket.listen = listen  # type: ignore[method-assign]
        os.fork = fork


class StartGuard:
    """Fails a test not marked slow that starts a process or a server. Registered as a plugin,
    not as conftest hooks, so that it also watches the doctests collected from src."""

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            if isinstance(item, pytest.DoctestItem) and item.name in SLOW_DOCTESTS:
                item.add_marker(pytest.mark.slow)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> Generator[None, None, None]:
        with _guarded(item):
            return (yield)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, None, None]:
        with _guarded(item):
            return (yield)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        started = item.stash.get(STARTED, [])
        if started and report.passed and report.when != "teardown":
            report.outcome = "failed"
            report.longrepr = (
                f"{item.nodeid} {started[0]} but is not marked slow (the test caught the "
                "failure): add `@pytest.mark.slow`"
            )
        return report


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(StartGuard(), "plancontrol-start-guard")


@contextmanager
def _guarded(item: pytest.Item) -> Iterator[None]:
    if item.get_closest_marker("slow") is not None:
        yield
        return
    started = item.stash.setdefault(STARTED, [])
    with _refusing_starts(started):
        yield
