"""The scripts' interpreter: where it is, and what version and packages it has."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping

from returns.result import Failure, Result, Success

from plancontrol.core.problem import Problem
from plancontrol.handlers.secrets import without_secrets

__all__ = ["describe_python", "python_path"]

_DESCRIBE = """\
import sys
from importlib import metadata
names = {}
for dist in metadata.distributions():
    name = dist.metadata["Name"]
    if name:
        names.setdefault(name.lower(), "%s==%s" % (name, dist.version))
print("Python %d.%d.%d" % sys.version_info[:3])
print("\\n".join(names[k] for k in sorted(names)))
"""


def python_path(python: str) -> str:
    """Where the interpreter named ``python`` is, as an absolute path (scripts run in the
    work folder, where a relative path would lead elsewhere): a bare name is looked up on
    PATH, a relative path taken from the current folder; one not found is left as given.

    >>> python_path("/usr/bin/python3"), python_path("no-such-python-here")
    ('/usr/bin/python3', 'no-such-python-here')
    """
    if not python or os.path.isabs(python):
        return python
    if "/" not in python:
        return shutil.which(python) or python
    return os.path.abspath(python)


def describe_python(
    python: str, env: Mapping[str, str] | None = None, limit: int = 1500
) -> Result[str, Problem]:
    """What the scripts' interpreter is, for the code roles' prompt: its version and the
    packages it has (``name==version``, at most ``limit`` characters of them), asked once
    with a subprocess; or a one-line reason it cannot run.

    >>> import sys
    >>> describe_python(sys.executable).unwrap().startswith(f"Python {sys.version_info[0]}.")
    True
    >>> print(describe_python("/no/such/python").failure().message)
    cannot run '/no/such/python' (No such file or directory); give the path of a Python interpreter
    """
    import tempfile

    try:
        with tempfile.TemporaryDirectory() as cwd:
            done = subprocess.run(
                [python, "-c", _DESCRIBE],
                cwd=cwd,
                env=without_secrets(os.environ if env is None else env),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                errors="replace",
                timeout=60,
                check=False,
            )
    except (OSError, subprocess.SubprocessError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return Failure(
            Problem(
                what=f"cannot run {python!r} ({reason})",
                where=python,
                fix="give the path of a Python interpreter",
            )
        )
    lines = done.stdout.splitlines()
    if done.returncode != 0 or not lines or not lines[0].startswith("Python "):
        said = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
        return Failure(
            Problem(what=f"{python!r} is not a working Python interpreter ({said})", where=python)
        )
    return Success(f"{lines[0]}, with these packages: {_listed(lines[1:], limit) or 'none'}")


def _listed(packages: list[str], limit: int) -> str:
    """The ``packages``, comma-separated, as many as fit in ``limit`` characters, then how
    many more there are.

    >>> _listed(["a==1", "b==2", "c==3"], 13)
    'a==1, b==2 and 1 more'
    """
    shown: list[str] = []
    size = 0
    for package in packages:
        if size + len(package) + 2 > limit:
            break
        shown.append(package)
        size += len(package) + 2
    more = len(packages) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more else "")
