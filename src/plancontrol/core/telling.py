"""Per-call events, told by decorators the runner puts around the agents and the executor."""

from __future__ import annotations

from returns.result import Result, Success

from plancontrol.core.errors import ExecutionFailure, ModelFailure
from plancontrol.core.events import AgentReplied, CodeExecuted, CostUpdate
from plancontrol.core.ports import Agents, EventSink, Execution, Executor, Reply, Request, Script

__all__ = ["TellingAgents", "TellingExecutor"]


class TellingAgents:
    """Asks ``inner`` and tells each reply and its cost, with the run's total so far (None
    once any call's price is unknown)."""

    def __init__(self, inner: Agents, events: EventSink, total: float | None) -> None:
        self.inner = inner
        self.events = events
        self.total = total

    def ask(self, request: Request) -> Result[Reply, ModelFailure]:
        result = self.inner.ask(request)
        if isinstance(result, Success):
            self._tell(request, result.unwrap())
        return result

    def _tell(self, request: Request, reply: Reply) -> None:
        cost = reply.cost_usd
        self.total = None if cost is None or self.total is None else self.total + cost
        role, step = request.role, request.step
        self.events.emit(
            AgentReplied(role=role, step=step, attempt=request.attempt, text=reply.text)
        )
        self.events.emit(
            CostUpdate(
                role=role,
                step=step,
                model=reply.model or request.model,
                prompt_tokens=reply.prompt_tokens,
                completion_tokens=reply.completion_tokens,
                cost_usd=cost,
                total_cost_usd=self.total,
            )
        )


class TellingExecutor:
    """Runs scripts on ``inner`` and tells how each one ended."""

    def __init__(self, inner: Executor, events: EventSink) -> None:
        self.inner = inner
        self.events = events

    def run(self, script: Script) -> Result[Execution, ExecutionFailure]:
        result = self.inner.run(script)
        if isinstance(result, Success):
            run = result.unwrap()
            self.events.emit(
                CodeExecuted(
                    step=script.step,
                    attempt=script.attempt,
                    filename=script.filename,
                    exit_code=run.exit_code,
                    timed_out=run.timed_out,
                )
            )
        return result

    def install(self, step: int, packages: tuple[str, ...]) -> Result[Execution, ExecutionFailure]:
        return self.inner.install(step, packages)
