"""An opt-out on one replica while the other stores something the member asked for (a /save, a skill, an
enrolment, an intro request): the store read the member's consent in a transaction of its own, the opt-out committed
between that read and the store's commit, and what was stored stayed for a member who had opted out. Both replicas
on one PostgreSQL; the opt-out runs to its end at the step that matters, unless it waits for the store."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from bot import events as ev
from bot.app import App, build_app
from bot.settings import Settings
from tests.exports import TEAM, THREADS, USERS, write_slack_export
from tests.test_digest import pg_url  # noqa: F401  (fixture: a fresh PostgreSQL database)
from tests.waiting import until, waits_on_a_lock


@pytest.fixture
async def replicas(pg_url, embedder, tmp_path) -> AsyncIterator[tuple[App, App]]:  # noqa: F811
    first = build_app(Settings(database_url=pg_url), embedder=embedder)
    second = build_app(Settings(database_url=pg_url), embedder=embedder)
    try:
        await first.importer.import_slack(write_slack_export(tmp_path / "export", USERS, THREADS))
        yield first, second
    finally:
        await first.close()
        await second.close()


def command(user: str, name: str, args: str = "", n: int = 1) -> ev.CommandInvoked:
    return ev.CommandInvoked(community=TEAM, platform="slack", user=user, channel="C0GENERAL", name=name, args=args,
                             event_id=f"{name}-{user}-{n}")


def opt_out_meanwhile(first: App, step: Callable[..., Awaitable[Any]], running: list[asyncio.Task]):  # noqa: ANN201
    """`step` (called in the storing transaction, after consent was read) that lets Petra's opt-out on the first
    replica run first."""
    async def wrapped(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        if not running:
            running.append(asyncio.create_task(first.core.handle(command("UPG", "optout"))))
            # The opt-out runs to its end here, unless it waits for this store.
            await until(lambda: running[0].done() or waits_on_a_lock(first.db), what="the opt-out ended or waited")
        return await step(*args, **kwargs)
    return wrapped


async def _count(app: App, model, *where) -> int:  # noqa: ANN001
    async with app.db.sessions() as session:
        return await session.scalar(select(func.count()).select_from(model).where(*where))


async def _petra(app: App) -> int:
    from bot.db.models import Member

    async with app.db.sessions() as session:
        return await session.scalar(select(Member.id).where(Member.external_id == "UPG"))


async def test_a_save_while_the_member_opts_out_on_another_replica_is_not_kept(replicas, monkeypatch):
    import bot.services.resources as resources
    from bot.db.resources import ResourceSave

    first, second = replicas
    running: list[asyncio.Task] = []
    monkeypatch.setattr(resources, "record_shares", opt_out_meanwhile(first, resources.record_shares, running))
    await second.core.handle(command("UPG", "save", "https://use-the-index-luke.com/ brin notes"))
    await running[0]
    assert await _count(first, ResourceSave, ResourceSave.member_id == await _petra(first)) == 0


@pytest.mark.parametrize(("user", "args"), [("UPG", "add brin indexes"), ("UK8S", "endorse <@UPG> brin indexes")])
async def test_a_skill_declared_or_endorsed_while_the_member_opts_out_is_not_kept(replicas, monkeypatch, user, args):
    """Petra declares a skill, or Kenji endorses her for one, on one replica while she opts out on the other."""
    import bot.core as core
    from bot.db.models import Skill

    first, second = replicas
    running: list[asyncio.Task] = []
    monkeypatch.setattr(core, "_store_skills", opt_out_meanwhile(first, core._store_skills, running))
    await second.core.handle(command(user, "skills", args))
    await running[0]
    assert await _count(first, Skill, Skill.member_id == await _petra(first)) == 0


async def test_an_enrolment_while_the_member_opts_out_is_not_kept(replicas, monkeypatch):
    """Petra joins the mentoring rounds on one replica while she opts out on the other (which deletes an enrolment)."""
    from bot.db.mentoring import MentoringEnrolment
    from bot.services.mentoring import MentoringService

    first, second = replicas
    running: list[asyncio.Task] = []
    monkeypatch.setattr(MentoringService, "_enrolment", opt_out_meanwhile(first, MentoringService._enrolment, running))
    await second.core.handle(command("UPG", "mentoring", "join mentor teach: brin indexes tz: Europe/Berlin"))
    await running[0]
    assert await _count(first, MentoringEnrolment, MentoringEnrolment.member_id == await _petra(first)) == 0
