"""Domain errors. Each names the template that explains it to the person who caused it."""

from __future__ import annotations

from typing import Any


class SaysoError(Exception):
    template = "error"

    def context(self) -> dict[str, Any]:
        return {}


class RecordNotFound(SaysoError):
    template = "record_not_found"

    def __init__(self, number: int) -> None:
        super().__init__(f"record #{number} does not exist")
        self.number = number

    def context(self) -> dict[str, Any]:
        return {"number": self.number}


class UsageError(SaysoError):
    """A command the bot cannot act on; answered with the usage line and the problem."""

    template = "usage"

    def __init__(self, problem: str = "") -> None:
        super().__init__(problem or "usage")
        self.problem = problem

    def context(self) -> dict[str, Any]:
        return {"problem": self.problem}


class MalformedPayload(SaysoError):
    """A correctly signed request whose body lacks what its type always carries."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"malformed payload: {detail}")
