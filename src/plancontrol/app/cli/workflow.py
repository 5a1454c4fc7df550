"""CMBAgent's ``deep_research`` knobs as typer options, named as there; imports nothing heavy."""

from __future__ import annotations

from typing import Annotated, Any

import typer

__all__ = [
    "CONTINUED",
    "STARTED",
    "EngineerInstructions",
    "HardwareConstraints",
    "MaxRoundsControl",
    "MaxRoundsPlanning",
    "PlanInstructions",
    "ResearcherFilename",
    "ResearcherInstructions",
    "workflow_flags",
]

MaxRoundsPlanning = Annotated[
    int | None, typer.Option(help="Most model calls planning may make [50].")
]
MaxRoundsControl = Annotated[
    int | None, typer.Option(help="Most model calls one step may make [100].")
]
PlanInstructions = Annotated[
    str | None, typer.Option(help="Added to the planner's and plan reviewer's instructions.")
]
EngineerInstructions = Annotated[
    str | None, typer.Option(help="Added to the engineer's instructions.")
]
ResearcherInstructions = Annotated[
    str | None, typer.Option(help="Added to the researcher's instructions.")
]
HardwareConstraints = Annotated[
    str | None, typer.Option(help="Shown to the planner, the plan reviewer and the engineer.")
]
ResearcherFilename = Annotated[
    str | None,
    typer.Option(help="The researcher's report file: reports/step_N_NAME [researcher_output.md]."),
]

STARTED: tuple[str, ...] = (
    "max_rounds_planning",
    "max_rounds_control",
    "plan_instructions",
    "engineer_instructions",
    "researcher_instructions",
    "hardware_constraints",
    "researcher_filename",
)
"""The settings ``run`` takes a flag of the same name for (``--max-rounds-planning``...)."""

CONTINUED: tuple[str, ...] = (
    "max_rounds_control",
    "engineer_instructions",
    "researcher_instructions",
)
"""Those ``resume`` and ``fork`` take too: what the steps still to run read."""


def workflow_flags(given: dict[str, Any], names: tuple[str, ...] = STARTED) -> dict[str, Any]:
    """The settings among a command's parameters ``given``, by name (None: not given).

    >>> workflow_flags({"max_rounds_control": 7, "engineer_instructions": None}, CONTINUED[:2])
    {'max_rounds_control': 7, 'engineer_instructions': None}
    """
    return {name: given[name] for name in names}
