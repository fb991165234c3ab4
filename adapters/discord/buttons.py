"""The one kind of button the bot sends: a persistent `action|value` button matched by its custom id, so a
click works on any replica and after any restart (registered with `Client.add_dynamic_items`)."""

from __future__ import annotations

from typing import Any

import discord

from adapters.discord.custom_ids import CUSTOM_ID

STYLES = {
    "primary": discord.ButtonStyle.primary,
    "danger": discord.ButtonStyle.danger,
    "success": discord.ButtonStyle.success,
    "default": discord.ButtonStyle.secondary,
}


class ActionButton(discord.ui.DynamicItem[discord.ui.Button], template=CUSTOM_ID):
    def __init__(
        self,
        custom_id: str,
        *,
        label: str = "",
        style: discord.ButtonStyle = discord.ButtonStyle.secondary,
        row: int | None = None,
    ) -> None:
        super().__init__(
            discord.ui.Button(label=label[:80] or "…", style=style, custom_id=custom_id, row=row)
        )

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction,
        item: discord.ui.Item[Any],
        match: Any,
        /,
    ) -> ActionButton:
        button: discord.ui.Button = item  # type: ignore[assignment]
        return cls(button.custom_id or match.group(0), label=button.label or "", style=button.style)

    async def callback(self, interaction: discord.Interaction) -> None:
        await interaction.client.handle_interaction(interaction)  # type: ignore[attr-defined]
