"""The exceptions territory_opt raises, one small hierarchy.

Every error carries a message a planner can act on: the file, the row and column or key
path, what was found, and what to do. The CLI maps each class to one paragraph and an
exit code.
"""

from __future__ import annotations

from dataclasses import dataclass

#: At most this many problems are listed in one message; the rest are counted.
MAX_LISTED = 20


class TerritoryOptError(Exception):
    """Base class of all territory_opt errors."""

    exit_code = 1


class ScenarioError(TerritoryOptError):
    """A scenario file is missing, unreadable, or fails its schema."""

    exit_code = 2


class DataError(TerritoryOptError):
    """Input data fails validation; ``problems`` lists every finding."""

    exit_code = 3

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        super().__init__(format_problems(self.problems))


class InfeasibleError(TerritoryOptError):
    """No plan satisfies the scenario; ``explanation`` says which constraints conflict.

    ``over_budget``: when a disruption budget is proved too small, the seat index of every
    unit in the least-moving plan found that meets every other rule (the message's "at most"
    or "exactly" figure), for the planner to inspect; None otherwise. ``exempt``: the seats
    that plan has standing alone (set by the solve); ``over_budget_plan``: that plan as a
    :class:`~territory_opt.plan.Plan`, audited (set by the pipeline)."""

    exit_code = 4

    def __init__(self, message: str, explanation: object | None = None, over_budget: object | None = None) -> None:
        self.explanation = explanation
        self.over_budget = over_budget
        self.exempt: object | None = None
        self.over_budget_plan: object | None = None
        super().__init__(message)


class SolverError(TerritoryOptError):
    """The solver failed for a reason other than infeasibility (model invalid, no time).

    ``over_budget``: when a disruption budget was missed, the seat index of every unit in
    the best plan found that meets every band (it moves more than the budget; the message
    says how much), for the planner to inspect; None otherwise. ``exempt`` and
    ``over_budget_plan`` as for :class:`InfeasibleError`."""

    exit_code = 5

    def __init__(self, message: str, over_budget: object | None = None) -> None:
        self.over_budget = over_budget
        self.exempt: object | None = None
        self.over_budget_plan: object | None = None
        super().__init__(message)


class StudioError(TerritoryOptError):
    """The plan studio cannot start or open what it was given (port taken, no scenario)."""

    exit_code = 6


class OutputError(TerritoryOptError):
    """The outputs cannot be written (a full disk, a read-only folder, a file in the way, an
    output folder holding an input file); the previous outputs are left as they were."""

    exit_code = 7


@dataclass(frozen=True)
class Problem:
    """One finding of validation.

    Attributes
    ----------
    source : str
        File name (or ``builtin:<name>``) the finding is about.
    message : str
        What was found and what to do.
    row : int or None
        1-based data row (the header is row 0), when the finding is about one row.
    column : str or None
        Column name as it appears in the file.
    """

    source: str
    message: str
    row: int | None = None
    column: str | None = None

    def __str__(self) -> str:
        where = self.source
        if self.row is not None:
            where += f", row {self.row}"
        if self.column is not None:
            where += f", column {self.column!r}"
        return f"{where}: {self.message}"


def format_problems(problems: list[Problem]) -> str:
    """One message listing up to :data:`MAX_LISTED` problems, then 'and N more'."""
    count = len(problems)
    head = f"{count} problem{'s' if count != 1 else ''} in the input data:"
    lines = [head] + [f"  - {p}" for p in problems[:MAX_LISTED]]
    if count > MAX_LISTED:
        lines.append(f"  ... and {count - MAX_LISTED} more")
    return "\n".join(lines)
