"""Whether a platform application's commands need registering again: the hash of what was last registered, kept in
the database so that every replica and every restart sees it (Discord limits command creations to about 200 a day;
registering them at every start, a crash loop locked the bot out of its commands)."""
from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bot.db.engine import Database
from bot.db.models import CommandSync
from bot.events import utcnow


def payload_hash(payload: Any) -> str:
    """The same for the same commands, whatever the order of their keys."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


async def registered_hash(db: Database, platform: str, application: str, scope: str = "") -> str | None:
    async with db.sessions() as session:
        return await session.scalar(select(CommandSync.payload_hash).where(
            CommandSync.platform == platform, CommandSync.application == application, CommandSync.scope == scope))


async def record_registered(db: Database, platform: str, application: str, digest: str, scope: str = "") -> None:
    async with db.sessions() as session:
        row = await session.scalar(select(CommandSync).where(
            CommandSync.platform == platform, CommandSync.application == application, CommandSync.scope == scope))
        if row is None:
            session.add(CommandSync(platform=platform, application=application, scope=scope, payload_hash=digest))
        else:
            row.payload_hash, row.synced_at = digest, utcnow()
        try:
            await session.commit()
        except IntegrityError:  # another replica registered them at the same moment, and recorded it
            await session.rollback()
