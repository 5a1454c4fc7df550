"""Confines a script: the limits and Landlock write rules the launcher applies before it runs."""

from __future__ import annotations

import functools
import importlib.resources
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from plancontrol.handlers.launcher import FAILED, MESSAGE

__all__ = ["FAILED", "MESSAGE", "confinement", "landlock_abi", "launch", "ruleset"]

# Landlock (Linux >= 5.13, unprivileged): the write rights a ruleset handles; a rule gives
# them back beneath the work folder only.
_LL_WRITE_FILE = 1 << 1
_LL_TRUNCATE = 1 << 14
_LL_REFER = 1 << 13
_LL_ABI1 = sum(1 << bit for bit in (1, 4, 5, 6, 7, 8, 9, 10, 11, 12))
"""Write a file, remove a file or folder, make a file, folder, link, fifo, socket or device."""
_LL_SCOPE_SIGNAL = 1 << 1
_DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty")
_DEVICE_DIRS = ("/dev/pts",)
_SHARED_MEMORY = "/dev/shm"


@functools.cache
def landlock_abi() -> int:
    """The Landlock ABI version the kernel offers (0: none), asked once per process."""
    if not sys.platform.startswith("linux"):
        return 0
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        version = int(libc.syscall(444, None, ctypes.c_size_t(0), ctypes.c_uint32(1)))
    except (OSError, AttributeError):  # pragma: no cover - no libc or no syscall()
        return 0
    return max(version, 0)


def confinement(confine_writes: bool) -> str:
    """How writes outside the work folder are handled here, in one sentence."""
    abi = landlock_abi()
    if not confine_writes:
        return "writes outside the work folder are allowed (confine_writes=False)"
    if abi < 2:
        return (
            "writes outside the work folder are neither refused nor detected: this "
            "system offers no Landlock (Linux >= 5.19); HOME and TMPDIR point inside it"
        )
    return f"writes outside the work folder are refused (Landlock ABI {abi})"


def ruleset(
    work_dir: Path, writable: Sequence[Path], confine_writes: bool
) -> dict[str, object] | None:
    """The launcher's Landlock ruleset: write rights beneath the work folder only (None when
    writes are not confined or the kernel cannot)."""
    abi = landlock_abi()
    if not confine_writes or abi < 2:
        return None
    handled = _LL_ABI1 | _LL_REFER | (_LL_TRUNCATE if abi >= 3 else 0)
    on_files = handled & (_LL_WRITE_FILE | _LL_TRUNCATE)
    rules: list[tuple[str, int]] = [
        (str(work_dir.resolve()), handled),
        (_SHARED_MEMORY, handled),
        *((path, on_files) for path in (*_DEVICES, *_DEVICE_DIRS)),
    ]
    for extra in writable:
        path = extra.resolve()
        rules.append((str(path), handled if path.is_dir() else on_files))
    return {
        "handled": handled,
        "scoped": _LL_SCOPE_SIGNAL if abi >= 6 else 0,  # no signals to processes outside
        "size": 24 if abi >= 6 else 16 if abi >= 4 else 8,
        "rules": rules,
    }


@functools.cache
def _launcher_source() -> str:
    """The launcher's program, run from its text so that no import of it is needed."""
    return (importlib.resources.files("plancontrol.handlers") / "launcher.py").read_text(
        encoding="utf-8"
    )


def launch(
    python: str,
    filename: str,
    limits: Sequence[tuple[str, int]],
    landlock: dict[str, object] | None,
) -> list[str]:
    """The command that runs ``filename`` with ``python`` under ``limits`` (resource name,
    value) and the ``landlock`` ruleset, both applied by the launcher."""
    if not limits and landlock is None:  # pragma: no cover - RLIMIT_CORE is always set
        return [python, filename]
    config = {"python": python, "limits": list(limits), "landlock": landlock}
    return [python, "-I", "-S", "-c", _launcher_source(), json.dumps(config), filename]
