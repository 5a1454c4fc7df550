"""Run before a script by its own python: sets limits, confines writes, then becomes the script."""

# The scripts' interpreter may be another Python (``--python``), so this module imports the
# standard library only and is run from its source text (``python -I -S -c SOURCE config
# script.py``, see ``sandbox.launch``): it sets the resource limits, restricts writes with
# Landlock, then becomes the script (``execv``, same process), so nothing of it is left.

from __future__ import annotations

import os
import sys

__all__ = ["FAILED", "MESSAGE", "landlock", "main"]

MESSAGE = "plancontrol: cannot confine the script"
"""How this program's own failure starts on stderr."""
FAILED = 125
"""The exit code of a script that could not be confined (it did not run)."""


def landlock(handled: int, scoped: int, size: int, rules: list[tuple[str, int]]) -> None:
    """Handle the ``handled`` write rights, give them back beneath each rule's path only."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    call = libc.syscall
    call.restype = ctypes.c_long

    def ok(result: int) -> int:
        if result < 0:
            number = ctypes.get_errno()
            raise OSError(number, "Landlock: " + os.strerror(number))
        return result

    class Ruleset(ctypes.Structure):
        _fields_ = [("fs", ctypes.c_uint64), ("net", ctypes.c_uint64), ("scoped", ctypes.c_uint64)]

    class Beneath(ctypes.Structure):
        _pack_ = 1
        _fields_ = [("allowed", ctypes.c_uint64), ("fd", ctypes.c_int32)]

    ruleset = Ruleset(handled, 0, scoped)
    fd = ok(call(444, ctypes.byref(ruleset), ctypes.c_size_t(size), ctypes.c_uint32(0)))
    for path, allowed in rules:  # from JSON: [path, rights] lists unpack as pairs do
        try:
            target = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            ok(call(445, fd, 1, ctypes.byref(Beneath(allowed, target)), ctypes.c_uint32(0)))
        finally:
            os.close(target)
    ok(libc.prctl(38, 1, 0, 0, 0))  # PR_SET_NO_NEW_PRIVS
    ok(call(446, fd, ctypes.c_uint32(0)))
    os.close(fd)


def main() -> None:
    """Apply the JSON config in ``sys.argv[1]``, then run the rest of argv as the script."""
    import json
    import resource

    cfg = json.loads(sys.argv[1])
    for name, value in cfg["limits"]:
        which = getattr(resource, name)
        hard = resource.getrlimit(which)[1]
        if hard != resource.RLIM_INFINITY and value > hard:
            value = hard
        resource.setrlimit(which, (value, value))
    if cfg["landlock"]:
        landlock(**cfg["landlock"])
    os.execv(cfg["python"], [cfg["python"], *sys.argv[2:]])


if __name__ == "__main__":
    try:
        main()
    except BaseException as exc:
        sys.stderr.write("%s: %s: %s\n" % (MESSAGE, type(exc).__name__, exc))  # noqa: UP031
        sys.stderr.flush()
        os._exit(FAILED)
