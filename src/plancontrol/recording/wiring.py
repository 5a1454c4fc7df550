"""The one place a run is wired: the handlers a caller brings, run live, recorded or replayed."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from plancontrol.core.ports import (
    Agents,
    Approver,
    Checkpoints,
    Clock,
    Effects,
    EventSink,
    Executor,
    NoCheckpoints,
    Signals,
    Workspace,
)
from plancontrol.handlers.callbacks import FanOut
from plancontrol.handlers.defaults import CODE_TIMEOUT
from plancontrol.handlers.executor import SubprocessExecutor
from plancontrol.handlers.local import DiscardEvents, SystemClock
from plancontrol.handlers.secrets import Scrubber
from plancontrol.handlers.workspace import FolderWorkspace, MemoryWorkspace
from plancontrol.runs.folder import RunOptions, session_dir
from plancontrol.runs.journal import (
    Journal,
    JournalReplay,
    RecordingApprover,
    RecordingClock,
    RecordingExecutor,
    RecordingSignals,
)
from plancontrol.runs.resume import WORK
from plancontrol.runs.tools import JournalTools, RecordingTools, ServedTools

if TYPE_CHECKING:
    from plancontrol.handlers.ag2_agents import Ag2Agents, Settle, ToolWrap
    from plancontrol.handlers.routes import Route, StructuredMode

__all__ = [
    "Handlers",
    "Tools",
    "assemble",
    "journaled_tools",
    "model_agents",
    "recorded",
    "replayed",
    "served_tools",
]

Tools = Mapping[str, Sequence[Callable[..., Any]]]
"""Python functions a role's model may call (ag2 tools), per role name."""


@dataclass(frozen=True)
class Handlers:
    """What a caller brings to a recorded run besides the models: how it is watched,
    approved and stopped, how scripts run (``executor``: their own, say one that runs
    code in a container; None: subprocesses in the run folder, with the limits below), and
    the ``tools`` each role's model may call. The executor's results, the approver's
    decisions and the tools' results are journaled; a replay serves them without asking."""

    events: EventSink
    approver: Approver
    signals: Signals
    code_timeout: float = CODE_TIMEOUT
    allow_install: bool = False
    python: str = ""
    """The interpreter that runs the scripts and pip ("": the one plancontrol runs under)."""
    pass_env: tuple[str, ...] = ()
    """Variables the scripts get although their names say they hold a credential."""
    executor: Executor | None = None
    tools: Tools | None = None


def assemble(
    *,
    agents: Agents,
    executor: Executor,
    workspace: Workspace,
    approver: Approver,
    events: EventSink,
    clock: Clock,
    signals: Signals,
    checkpoints: Checkpoints | None = None,
    interpreter: str = "",
) -> Effects:
    """The effects of a run from its parts (the runner adds per-call events)."""
    return Effects(
        agents=agents,
        executor=executor,
        workspace=workspace,
        events=events,
        approver=approver,
        clock=clock,
        signals=signals,
        checkpoints=checkpoints or NoCheckpoints(),
        interpreter=interpreter,
    )


def _executor(
    folder: Path, handlers: Handlers, options: RunOptions | None, scrub: Scrubber
) -> Executor:
    """The caller's executor, or subprocesses in the run folder's work folder."""
    if handlers.executor is not None:
        return handlers.executor
    return SubprocessExecutor(
        folder / WORK,
        timeout=handlers.code_timeout,
        allow_install=handlers.allow_install,
        python=(options.python if options else handlers.python) or sys.executable,
        pass_env=options.pass_env if options else handlers.pass_env,
        scrub=scrub.text,
    )


def recorded(
    folder: Path,
    agents: Agents,
    handlers: Handlers,
    journal: Journal,
    checkpoints: Checkpoints,
    scrub: Scrubber,
    options: RunOptions | None,
) -> Effects:
    """A recorded session: ``agents`` already record to cassettes and hear the events (to
    know which unit asks); every other nondeterministic input goes to ``journal``."""
    return assemble(
        agents=agents,
        executor=RecordingExecutor(_executor(folder, handlers, options, scrub), journal),
        workspace=FolderWorkspace(folder, scrub=scrub.text),
        events=FanOut(agents, handlers.events),
        approver=RecordingApprover(handlers.approver, journal),
        clock=RecordingClock(SystemClock(), journal),
        signals=RecordingSignals(handlers.signals, journal),
        checkpoints=checkpoints,
        interpreter=options.interpreter if options else "",
    )


def replayed(
    agents: Agents,
    journal: JournalReplay,
    *,
    executor: Executor | None,
    events: EventSink | None,
    signals: Signals,
    checkpoints: Checkpoints,
    interpreter: str,
) -> Effects:
    """A replayed session: models from cassettes, everything else served by ``journal``
    (or scripts re-run by ``executor``); files stay in memory."""
    return assemble(
        agents=agents,
        executor=executor or journal,
        workspace=MemoryWorkspace(),
        events=FanOut(agents, events or DiscardEvents()),
        approver=journal,
        clock=journal,
        signals=signals,
        checkpoints=checkpoints,
        interpreter=interpreter,
    )


def model_agents(
    default: Route,
    routes: Mapping[str, Route],
    modes: Mapping[str, StructuredMode],
    on_settle: Settle | None = None,
    tools: Tools | None = None,
    wrap_tools: ToolWrap | None = None,
) -> Ag2Agents:
    """The real agents (ag2) for these routes: ``tools`` per role (each wrapped for each turn
    by ``wrap_tools``: ``journaled_tools`` or ``served_tools``), the structured-output
    modes already settled, ``on_settle`` told of a mode settled now."""
    from plancontrol.handlers.ag2_agents import Ag2Agents

    return Ag2Agents(
        default, dict(routes), tools, modes=modes, on_settle=on_settle, wrap_tools=wrap_tools
    )


def journaled_tools(
    folder: Path, number: int, scrub: Callable[[bytes], bytes] = bytes
) -> RecordingTools:
    """Tools that run, each call's result journaled in session ``number`` of the run in
    ``folder`` (scrubbed by ``scrub``)."""
    return RecordingTools(JournalTools(session_dir(folder, number) / "journal.jsonl", scrub))


def served_tools(journal: JournalReplay) -> ServedTools:
    """Tools that are never called: each call answered by ``journal``."""
    return ServedTools(journal)
