"""Domain errors. Each names the template that explains it to the person who caused it."""

from __future__ import annotations

from typing import Any


class SaysoError(Exception):
    template = "error"

    def __init__(self, message: str = "", **context: Any) -> None:
        super().__init__(message or self.template)
        self._context = context

    def context(self) -> dict[str, Any]:
        return dict(self._context)


class RecordNotFound(SaysoError):
    template = "record_not_found"

    def __init__(self, number: int) -> None:
        super().__init__(f"record #{number} does not exist", number=number)


class UsageError(SaysoError):
    """A command the bot cannot act on; answered with the usage line and the problem."""

    template = "usage"

    def __init__(self, problem: str = "", **details: Any) -> None:
        # `problem` is a key of the catalog's [usage] section; details fill its fields.
        super().__init__(problem or "usage", problem=problem, details=details)


class MalformedPayload(SaysoError):
    """A correctly signed request whose body lacks what its type always carries."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"malformed payload: {detail}")


class NotAllowed(SaysoError):
    """The person may not do this to this record (only requesters confirm, only owners close)."""

    template = "not_allowed"


class AccessUnchecked(SaysoError):
    """Slack could not say who someone is (`what="person"`) or who is in a channel
    (`what="channel"`): nothing that depends on it is granted, they are asked to try again."""

    template = "access_unchecked"


class StaleRevision(SaysoError):
    """A button from an older revision of the record was clicked."""

    template = "stale_revision"


class AlreadyAnswered(SaysoError):
    template = "already_answered"


class NotInThisState(SaysoError):
    """The action does not apply to the record's current status."""

    template = "not_in_this_state"


class AlreadyCaptured(SaysoError):
    template = "already_captured"


class DueDateUnreadable(SaysoError):
    template = "due_unreadable"


class UnstorableText(SaysoError):
    """Text with a character no database can store (NUL, a lone surrogate), refused where
    it is read: before a number is promised. `field` is the form's block it was typed in."""

    template = "unstorable_text"

    def __init__(self, character: str, field: str | None = None) -> None:
        super().__init__(f"unstorable character {character}", character=character)
        self.field = field


class ModalInvalid(SaysoError):
    """A modal submission to send back with errors next to the fields."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("invalid modal submission")
        self.errors = errors
