"""Modals as people fill them in: the values of each kind of input, the `state.values` a
submission carries, and what Slack does with the app's answer to a `view_submission`.

Slack's client refuses to submit what it would not accept (a required input left empty, text
too long, an option the menu does not offer); here those raise `AssertionError`, as mistakes in
the test. So does an answer from the bot that Slack would refuse.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from bot.emulator.copies import copied
from bot.emulator.errors import MethodError, Params
from bot.emulator.handlers import MODAL_STACK_LIMIT, view_body
from bot.emulator.workspace import Workspace

# element type -> (the state key holding its value, the element's initial-value key, empty)
STATE_KEYS: dict[str, tuple[str, str, Any]] = {
    "plain_text_input": ("value", "initial_value", None),
    "number_input": ("value", "initial_value", None),
    "email_text_input": ("value", "initial_value", None),
    "url_text_input": ("value", "initial_value", None),
    "datepicker": ("selected_date", "initial_date", None),
    "timepicker": ("selected_time", "initial_time", None),
    "users_select": ("selected_user", "initial_user", None),
    "multi_users_select": ("selected_users", "initial_users", []),
    "conversations_select": ("selected_conversation", "initial_conversation", None),
    "multi_conversations_select": ("selected_conversations", "initial_conversations", []),
    "channels_select": ("selected_channel", "initial_channel", None),
    "multi_channels_select": ("selected_channels", "initial_channels", []),
    "static_select": ("selected_option", "initial_option", None),
    "multi_static_select": ("selected_options", "initial_options", []),
    "radio_buttons": ("selected_option", "initial_option", None),
    "checkboxes": ("selected_options", "initial_options", []),
}
_DATE, _TIME = re.compile(r"\d{4}-\d{2}-\d{2}"), re.compile(r"([01]\d|2[0-3]):[0-5]\d")
Values = Mapping[str, Mapping[str, Any]]  # block_id -> action_id -> value-dict (or bare value)

# --- what each kind of input holds once a person has filled it in ---------------------------


def plain_text(value: str | None) -> Params:
    return {"type": "plain_text_input", "value": value}


def multi_users(user_ids: Iterable[str]) -> Params:
    return {"type": "multi_users_select", "selected_users": list(user_ids)}


def users_select(user_id: str | None) -> Params:
    return {"type": "users_select", "selected_user": user_id}


def static_select(value: str | None) -> Params:
    """The option's `text` is filled in from the menu when the modal is submitted."""
    return {"type": "static_select", "selected_option": None if value is None else {"value": value}}


def datepicker(date: str | None) -> Params:
    if date is not None and not _DATE.fullmatch(date):
        raise ValueError(f"a datepicker holds YYYY-MM-DD, not {date!r}")
    return {"type": "datepicker", "selected_date": date}


def timepicker(hh_mm: str | None) -> Params:
    if hh_mm is not None and not _TIME.fullmatch(hh_mm):
        raise ValueError(f"a timepicker holds HH:MM (24-hour), not {hh_mm!r}")
    return {"type": "timepicker", "selected_time": hh_mm}


# --- a submission -----------------------------------------------------------------------------


def submitted_state(view: Params, values: Values, known_user: Callable[[str], bool]) -> Params:
    """`state.values` as Slack sends it: every input, with what was entered now, else what the
    modal already showed (earlier entries, then initial values), else its empty value."""
    elements = _elements(view)
    for block_id, actions in values.items():
        for action_id in actions:
            if (block_id, action_id) not in elements:
                raise AssertionError(
                    f"view {view['id']} has no input {block_id}/{action_id}; "
                    f"it has {sorted(elements)}"
                )
    entered = {
        (block_id, action_id): _typed(elements[(block_id, action_id)][0], given)
        for block_id, actions in values.items()
        for action_id, given in actions.items()
        if given is not None
    }
    shown = view.get("state", {}).get("values", {})
    state: Params = {}
    for (block_id, action_id), (element, block) in elements.items():
        if (block_id, action_id) in entered:
            value = entered[(block_id, action_id)]
        elif action_id in shown.get(block_id, {}):
            value = copied(shown[block_id][action_id])
        elif element["type"] in STATE_KEYS:
            key, initial, empty = STATE_KEYS[element["type"]]
            value = {"type": element["type"], key: copied(element.get(initial, empty))}
        else:
            continue  # an element kind not emulated, left untouched
        _check(f"{block_id}/{action_id}", element, block, value, known_user)
        state.setdefault(block_id, {})[action_id] = value
    return state


def settle(
    ws: Workspace, user_id: str, view_id: str, state: Params, status: int, answer: Any
) -> None:
    """What Slack does with the app's answer to a submission of the modal on top."""
    stack = ws.modal_stack(user_id, view_id)
    ws.views[view_id]["state"] = {"values": copied(state)}  # what the modal now shows
    if status != 200:
        return  # Slack shows "We had some trouble connecting" and the modal stays
    answer = answer if isinstance(answer, dict) else {}
    action = answer.get("response_action")
    if action is None:
        stack.pop()
    elif action == "clear":
        stack.clear()
    elif action == "errors":
        _check_errors(ws.views[view_id], answer.get("errors"))
    elif action in ("update", "push"):
        try:
            body = view_body(ws, answer.get("view"), home=False)
        except MethodError as e:
            raise AssertionError(f"Slack refuses the {action} view: {e.messages}") from e
        if action == "update":
            ws.save_view(body, replacing=ws.views[view_id])
        elif len(stack) >= MODAL_STACK_LIMIT:
            raise AssertionError(f"Slack refuses a push beyond {MODAL_STACK_LIMIT} modals")
        else:
            stack.append(ws.save_view(body, previous=ws.views[view_id])["id"])
    else:
        raise AssertionError(f"Slack knows no response_action {action!r}")
    for key in [k for k, v in ws.modals.items() if not v]:
        del ws.modals[key]


def _elements(view: Params) -> dict[tuple[str, str], tuple[Params, Params | None]]:
    """(block_id, action_id) -> (element, its input block, or None outside input blocks)."""
    found: dict[tuple[str, str], tuple[Params, Params | None]] = {}
    for block in view.get("blocks") or []:
        if block.get("type") == "input":
            elements = [block.get("element")]
        else:
            elements = [block.get("accessory"), *block.get("elements", [])]
        for element in elements:
            stateful = isinstance(element, dict) and element.get("action_id")
            if stateful and (block.get("type") == "input" or element["type"] in STATE_KEYS):
                holder = block if block.get("type") == "input" else None
                found[(str(block.get("block_id")), str(element["action_id"]))] = (element, holder)
    return found


def _typed(element: Params, given: Any) -> Params:
    kind = element["type"]
    key = STATE_KEYS.get(kind, ("value", "", None))[0]
    value = dict(given) if isinstance(given, Mapping) else {"type": kind, key: given}
    if value.get("type") != kind:
        raise AssertionError(f"{element['action_id']} is a {kind}, not a {value.get('type')}")
    chosen = value.get(key)
    if key == "selected_option" and chosen is not None:
        value[key] = _option(element, chosen)
    elif key == "selected_options":
        value[key] = [_option(element, c) for c in chosen or []]
    return copied(value)


def _option(element: Params, chosen: Any) -> Params:
    wanted = chosen.get("value") if isinstance(chosen, Mapping) else chosen
    options = [*element.get("options", [])]
    for group in element.get("option_groups", []):
        options.extend(group.get("options", []))
    for option in options:
        if option.get("value") == wanted:
            return {k: copied(v) for k, v in option.items() if k in ("text", "value")}
    offered = [o.get("value") for o in options]
    raise AssertionError(f"{element['action_id']} offers no option {wanted!r}; it offers {offered}")


def _check(
    name: str,
    element: Params,
    block: Params | None,
    value: Params,
    known_user: Callable[[str], bool],
) -> None:
    kind = element["type"]
    entry = value.get(STATE_KEYS.get(kind, ("value",))[0])
    if block is not None:
        name += f" ({_label(block)})"
    if block is not None and not block.get("optional") and entry in (None, "", []):
        raise AssertionError(f"Slack would not submit: {name} is required")
    if isinstance(entry, str) and kind == "plain_text_input":
        low, high = element.get("min_length", 0), element.get("max_length", 3000)
        if entry and not low <= len(entry) <= high:
            raise AssertionError(f"Slack would not submit: {name} takes {low}-{high} characters")
    picked = {"users_select": [entry], "multi_users_select": entry}.get(kind) or []
    for user_id in picked:
        if user_id is not None and not known_user(user_id):
            raise AssertionError(f"{name}: there is no user {user_id} to pick")
    pattern = {"datepicker": _DATE, "timepicker": _TIME}.get(kind)
    if pattern is not None and entry is not None and not pattern.fullmatch(str(entry)):
        raise AssertionError(f"{name}: a {kind} cannot hold {entry!r}")


def _check_errors(view: Params, errors: Any) -> None:
    inputs = {b.get("block_id") for b in view.get("blocks", []) if b.get("type") == "input"}
    if not isinstance(errors, dict) or not errors:
        raise AssertionError(f"response_action errors needs an errors object, not {errors!r}")
    unknown = sorted(set(errors) - inputs)
    if unknown:
        raise AssertionError(
            f"Slack shows errors only beside input blocks; {unknown} are not among {sorted(inputs)}"
        )


def _label(block: Params) -> str:
    label = block.get("label")
    return str(label.get("text", "")) if isinstance(label, dict) else ""
