"""The communities this process can serve, for the jobs that pick work across communities.

One database may hold several workspaces and servers, each run by its own `connective run` process: a Slack token is
one workspace, a Discord token one bot and the servers it is in. A job that took another process's community (its due
digest, mentoring round, expired intro request, kept outbox action, replayed event) sent it through this process's
client: the platform refused it (channel_not_found, not_in_channel), the work was marked failed or refused, its admin
was told to fix a channel that was fine, while the process that could send it never got it. Each such job selects
only what `where` (or `community_ids`) lets through: the communities the running senders name (bot.actions.Serves),
and every community of a platform whose sender cannot tell (the console, a test's)."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import BindParameter, ColumnElement, Select, String, and_, bindparam, false, or_, select, true

from bot.actions import Serves
from bot.db.models import Community

Served = dict[str, frozenset[str] | None]  # by platform: the communities' external ids, None for all of them


def served(senders: Mapping[str, Any]) -> Served:
    return {platform: sender.communities() if isinstance(sender, Serves) else None
            for platform, sender in senders.items()}


def serves(senders: Mapping[str, Any], platform: str, community: str) -> bool:
    found = served(senders)
    return platform in found and (found[platform] is None or community in found[platform])


def where(senders: Mapping[str, Any], platform: Any = Community.platform,
          community: Any = Community.external_id) -> ColumnElement[bool]:
    """A filter on the rows of the communities served here, by their platform and external id columns."""
    clauses = [and_(platform == name, true() if ids is None else community.in_(_inline(ids)))
               for name, ids in served(senders).items()]
    return or_(*clauses) if clauses else false()


def _inline(ids: frozenset[str]) -> BindParameter:
    """The ids written into the statement, not bound one parameter each: a Discord bot in 40,000 servers exceeded
    the 32,767 parameters a PostgreSQL statement takes (asyncpg), and each job failed every time it ran."""
    return bindparam(None, sorted(ids), type_=String, expanding=True, literal_execute=True)


def community_ids(senders: Mapping[str, Any]) -> Select:
    """The ids of the communities served here, as a subquery: `X.community_id.in_(community_ids(senders))`."""
    return select(Community.id).where(where(senders))
