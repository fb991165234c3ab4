"""The mentoring enrolment form as a Discord modal (interaction response type 9), and its MODAL_SUBMIT read
back. The submission is answered by the client's `on_interaction` from the raw payload, not by the modal
object discord.py keeps in memory, so it works on any replica and after a restart, as buttons do."""

from __future__ import annotations

from typing import Any

import discord

from bot.services.mentoring_form import FIELDS, FORM_ACTION, TITLE

CUSTOM_ID = FORM_ACTION
TIMEOUT_SECONDS = 900.0  # discord.py forgets the (unused) modal object after this


class EnrolmentModal(discord.ui.Modal):
    def __init__(self, values: dict[str, str]) -> None:
        super().__init__(title=TITLE, custom_id=CUSTOM_ID, timeout=TIMEOUT_SECONDS)
        for field in FIELDS:
            self.add_item(
                discord.ui.TextInput(
                    label=field.label[:45],
                    custom_id=field.key,
                    placeholder=field.placeholder[:100],
                    default=(values.get(field.key) or "")[: field.max_length] or None,
                    required=field.required,
                    max_length=field.max_length,
                    style=discord.TextStyle.paragraph if field.multiline else discord.TextStyle.short,
                )
            )

    async def on_submit(self, interaction: discord.Interaction) -> None:
        """Nothing here: ConnectiveMixin.on_interaction answers every submission of this form."""


def is_enrolment_form(interaction: discord.Interaction) -> bool:
    return (
        interaction.type is discord.InteractionType.modal_submit
        and (interaction.data or {}).get("custom_id") == CUSTOM_ID
    )


def submitted_values(data: dict[str, Any]) -> dict[str, str]:
    """Field key -> value from a MODAL_SUBMIT's components (action rows or labels around text inputs)."""
    out: dict[str, str] = {}

    def walk(component: Any) -> None:
        if not isinstance(component, dict):
            return
        if "custom_id" in component and "value" in component:
            out[str(component["custom_id"])] = str(component["value"] or "")
        for child in component.get("components") or []:
            walk(child)
        walk(component.get("component"))

    for component in data.get("components") or []:
        walk(component)
    return out
