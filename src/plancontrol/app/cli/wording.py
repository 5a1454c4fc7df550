"""The CLI's wording of library messages: a parameter named becomes its flag; performs no I/O."""

from __future__ import annotations

import re

__all__ = ["FLAGS", "as_flags"]

FLAGS: dict[str, str] = {
    "run_dir": "--run-dir",
    "into": "--into",
    "html": "--html",
    "from_step": "--from-step",
    "sets": "--set",
    "instructions": "--instructions",
    "model": "--model",
    "base_url": "--base-url",
    "role_models": "--role-model",
    "part": "--part",
    "rerun_code": "--rerun-code",
    "pipeline": "--pipeline",
    "workers": "--workers",
    "engine": "--engine",
    "address": "--address",
    "step": "--step",
    "times": "--times",
    "stop_after_step": "--stop-after-step",
}
"""The flag of each parameter of ``plancontrol.run``, ``resume``, ``fork``, ``replay``,
``replay_many`` and ``repeat`` that library messages may name."""

_CALL = re.compile(r"`(run|resume|fork|replay)\(([^`()]*)\)`")
_PARAMETER = re.compile(r"`(\w+)(?:=([^`]*))?`")


def _flag(name: str, value: str | None) -> str | None:
    flag = FLAGS.get(name)
    if flag is None:
        return None
    return flag if value is None else f"{flag} {value}"


def _argument(text: str) -> str:
    name, sep, value = text.strip().partition("=")
    return _flag(name, value if sep else None) or text.strip()


def as_flags(message: str) -> str:
    """``message`` as the command line says it: a parameter in backticks (```from_step```,
    ```from_step=3```) becomes its flag, a call (```resume(from_step=K)```) the command.

    >>> as_flags("resume it without `from_step`")
    'resume it without --from-step'
    >>> as_flags("`from_step=7` is out of range; choose another `into`")
    '--from-step 7 is out of range; choose another --into'
    >>> as_flags("run it again with `resume(from_step=K)`, or branch it with `fork()`")
    'run it again with `plancontrol resume --from-step K`, or branch it with `plancontrol fork`'
    >>> as_flags("see `report.md` and `max_cost_usd`")
    'see `report.md` and `max_cost_usd`'
    >>> as_flags("`fork(run_dir='my run', from_step=2, into=b)`, `run(run_dir=a)`")
    "`plancontrol fork 'my run' --from-step 2 --into b`, `plancontrol run --run-dir a`"
    """

    def command(match: re.Match[str]) -> str:
        name = match.group(1)
        arguments: list[str] = []
        for given in (a for a in match.group(2).split(",") if a.strip()):
            folder = given.strip().removeprefix("run_dir=")
            if name != "run" and folder != given.strip():  # the command's argument
                arguments.insert(0, folder)
            else:
                arguments.append(_argument(given))
        return "`" + " ".join(("plancontrol", name, *arguments)) + "`"

    def parameter(match: re.Match[str]) -> str:
        return _flag(match.group(1), match.group(2)) or match.group(0)

    return _PARAMETER.sub(parameter, _CALL.sub(command, message))
