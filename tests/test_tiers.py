"""The fast tier holds no test that starts a process or a server: conftest fails such a test."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

INI = """
[pytest]
markers =
    slow: starts a process or a server
addopts = -p no:cacheprovider -p no:randomly
"""


@pytest.fixture
def guarded(pytester: pytest.Pytester) -> pytest.Pytester:
    """A pytest project that uses this suite's conftest.py."""
    pytester.makeini(INI)
    pytester.makeconftest((Path(__file__).parent / "conftest.py").read_text())
    return pytester


def test_an_unmarked_test_that_starts_a_process_or_a_server_fails_naming_it(
    guarded: pytest.Pytester,
) -> None:
    guarded.makepyfile(
        """
        import socket, subprocess, sys
        import pytest
        from plancontrol.testing import OpenAITestServer

        def test_runs_python():
            subprocess.run([sys.executable, "-c", "print('x')"], check=True)

        def test_swallows_the_failure():
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                try:
                    s.listen()
                except BaseException:
                    pass

        @pytest.fixture
        def server():
            with OpenAITestServer({}) as s:
                yield s

        def test_uses_a_server_fixture(server):
            pass

        def test_runs_nothing():
            assert sum([1, 2]) == 3
        """
    )
    result = guarded.runpytest_inprocess()

    result.assert_outcomes(passed=1, failed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_uses_a_server_fixture*",
            "this test starts a server (listens on a socket) but is not marked slow: *",
            "*test_runs_python*",
            "this test starts a process (*'-c', \"print('x')\"]) but is not marked slow: *",
            "*test_swallows_the_failure*",
            "*::test_swallows_the_failure starts a server (listens on a socket) but is not marked "
            "slow (the test caught the failure)*",
        ]
    )


@pytest.mark.slow
def test_a_test_marked_slow_may_start_a_process(guarded: pytest.Pytester) -> None:
    guarded.makepyfile(
        """
        import subprocess, sys
        import pytest

        pytestmark = pytest.mark.slow

        def test_runs_python():
            out = subprocess.run([sys.executable, "-c", "print(6 * 7)"], capture_output=True)
            assert out.stdout == b"42\\n"
        """
    )
    result = guarded.runpytest_inprocess()

    result.assert_outcomes(passed=1)
    assert guarded.runpytest_inprocess("-m", "not slow").ret == pytest.ExitCode.NO_TESTS_COLLECTED
