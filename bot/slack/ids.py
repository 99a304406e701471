"""Every identifier Slack sends back to us: commands, actions, views, shortcuts. Defined once."""

from __future__ import annotations

import enum


class Command(enum.StrEnum):
    CONFIRM = "/confirm"


class ActionId(enum.StrEnum):
    CONFIRM = "sayso_confirm"
    REJECT = "sayso_reject"
    CHANGE = "sayso_request_change"
    WITHDRAW = "sayso_withdraw"
    DONE = "sayso_done"
    CANCEL = "sayso_cancel"
    REOPEN = "sayso_reopen"
    CAPTURE_NUDGED = "sayso_capture_nudged"


class HomeAction(enum.StrEnum):
    """The App Home's own buttons, at its top (its rows use the record's ActionIds)."""

    NEW = "sayso_home_new"
    SETTINGS = "sayso_home_settings"
    FIND = "sayso_home_find"


class CallbackId(enum.StrEnum):
    CAPTURE_MODAL = "sayso_capture"
    AMEND_MODAL = "sayso_amend"
    MESSAGE_SHORTCUT = "sayso_confirm_message"
    FIND_SHORTCUT = "sayso_find"
    FIND_MODAL = "sayso_find_modal"
    SETTINGS_MODAL = "sayso_settings"


class BlockId(enum.StrEnum):
    """Input blocks of the modals; errors are reported against these."""

    REQUESTERS = "requesters"
    TEXT = "text"
    KIND = "kind"
    RISK = "risk"
    RISK_NOTE = "risk_note"
    DUE_DATE = "due_date"
    DUE_TIME = "due_time"
    OWNER = "owner"
    QUERY = "query"
    CHANNEL = "channel"  # the capture form opened from the App Home: where to ask
    # The settings modal: the workspace's part, then the person's own.
    DIGEST_CHANNEL = "digest_channel"
    DIGEST_TIME = "digest_time"
    DIGEST_DAYS = "digest_days"
    TIMEZONE = "timezone"
    REMIND_AFTER = "remind_after"
    MOST_REMINDERS = "most_reminders"
    EXPIRE_AFTER = "expire_after"
    ALL_CLEAR = "all_clear"
    SNOOZE_UNTIL = "snooze_until"
    MUTE = "mute"


CAPTURE_REACTION = "memo"
