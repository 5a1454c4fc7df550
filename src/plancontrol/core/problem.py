"""Why the shell refused to go on (bad input, a damaged run folder): what, where, how to fix."""

from __future__ import annotations

import msgspec

__all__ = ["Problem"]


class Problem(msgspec.Struct, frozen=True, kw_only=True):
    """A failure of the shell (the run folder, the configuration, a flag), beside the core's
    ``Error``: ``what`` is wrong (the sentence the user reads, naming the thing concerned),
    ``where`` is that thing (a file, folder, parameter or setting; empty when there is none
    to name) and ``fix`` how to put it right (empty when the sentence already says it).

    >>> problem = Problem(
    ...     what="runs/a is not a folder",
    ...     where="runs/a",
    ...     fix="pass the folder that `plancontrol run` wrote",
    ... )
    >>> problem.message
    'runs/a is not a folder; pass the folder that `plancontrol run` wrote'
    >>> Problem(what="the task is empty").message
    'the task is empty'
    """

    what: str
    where: str = ""
    fix: str = ""

    @property
    def message(self) -> str:
        """The one line the user reads: what is wrong, then how to fix it."""
        return f"{self.what}; {self.fix}" if self.fix else self.what
