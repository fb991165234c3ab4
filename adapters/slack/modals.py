"""The mentoring enrolment form as a Slack modal (views.open), and its view_submission read back.

Each field of bot/services/mentoring_form.FIELDS is one input block whose block_id and action_id are the
field's key, so the core's field errors map one to one onto `response_action: errors`."""
from __future__ import annotations

import json
from typing import Any

from bot.services.mentoring_args import MAX_CAPACITY
from bot.services.mentoring_form import FIELDS, FORM_ACTION, TITLE, FormField

CALLBACK_ID = FORM_ACTION


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


def _element(field: FormField, value: str) -> dict[str, Any]:
    if field.choices:
        options = [{"text": _plain(choice.capitalize()), "value": choice} for choice in field.choices]
        element: dict[str, Any] = {"type": "static_select", "action_id": field.key,
                                   "placeholder": _plain(field.placeholder), "options": options}
        chosen = [o for o in options if o["value"] == value]
        if chosen:
            element["initial_option"] = chosen[0]
        return element
    if field.number:
        element = {"type": "number_input", "action_id": field.key, "is_decimal_allowed": False,
                   "min_value": "1", "max_value": str(MAX_CAPACITY),
                   "placeholder": _plain(field.placeholder)}
    else:
        element = {"type": "plain_text_input", "action_id": field.key, "max_length": field.max_length,
                   "multiline": field.multiline, "placeholder": _plain(field.placeholder)}
    if value:
        element["initial_value"] = value[: field.max_length]
    return element


def enrolment_modal(values: dict[str, str], *, response_url: str = "") -> dict[str, Any]:
    """The modal view; `response_url` (a slash command's) is where the answer goes once it is submitted."""
    blocks = [{"type": "input", "block_id": f.key, "label": _plain(f.label), "optional": not f.required,
               "element": _element(f, values.get(f.key, ""))} for f in FIELDS]
    return {"type": "modal", "callback_id": CALLBACK_ID, "title": _plain(TITLE), "submit": _plain("Save"),
            "close": _plain("Cancel"), "blocks": blocks,
            "private_metadata": json.dumps({"response_url": response_url}) if response_url else ""}


def submitted_values(view: dict[str, Any]) -> dict[str, str]:
    """Field key -> what the member entered (selects give the chosen option's value)."""
    state = (view.get("state") or {}).get("values") or {}
    out: dict[str, str] = {}
    for field in FIELDS:
        entry = (state.get(field.key) or {}).get(field.key) or {}
        selected = entry.get("selected_option") or {}
        out[field.key] = str(selected.get("value") or entry.get("value") or "")
    return out


def response_url_of(view: dict[str, Any]) -> str:
    try:
        return str(json.loads(view.get("private_metadata") or "{}").get("response_url") or "")
    except (ValueError, AttributeError):
        return ""
