"""Every identifier Slack sends back to us: commands, action ids. Defined once, used everywhere."""

from __future__ import annotations

import enum


class Command(enum.StrEnum):
    CONFIRM = "/confirm"


class ActionId(enum.StrEnum):
    CONFIRM = "sayso_confirm"
    REJECT = "sayso_reject"
