"""Actions → Slack Web API calls. Replies to a command or a click go through its response_url."""
from __future__ import annotations

import copy
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from adapters.slack.blocks import in_workspace, message
from adapters.slack.still_there import StillThere
from bot.actions import (
    Action,
    Delivered,
    DirectMessage,
    EditPost,
    LookedUp,
    OpenGroup,
    PostToChannel,
    Reply,
    UpdateMessage,
)
from bot.errors import ChannelRefused, Undelivered

log = logging.getLogger(__name__)

Respond = Callable[..., Awaitable[Any]]
RESPOND_RATE_LIMIT_RETRIES = 3  # a reply through response_url Slack rate-limited (429) is sent again this many times


class RetryingRespond(AsyncRespond):
    """bolt's respond, sent by a webhook client with slack_sdk's 429 handler as the Web API client has
    (runner.web_client): bolt's has only the default for a dropped connection, so an answer Slack rate-limited
    (429, Retry-After) was never sent, with nothing logged."""

    async def __call__(self, **message: Any) -> Any:  # type: ignore[override]
        if self.response_url is None:
            raise ValueError("respond is unsupported here as there is no response_url")
        client = AsyncWebhookClient(url=self.response_url, proxy=self.proxy, ssl=self.ssl, retry_handlers=[
            AsyncConnectionErrorRetryHandler(),
            AsyncRateLimitErrorRetryHandler(max_retry_count=RESPOND_RATE_LIMIT_RETRIES)])
        return await client.send_dict({key: value for key, value in message.items() if value is not None})


def retrying(respond: Respond) -> Respond:
    """bolt's respond as a RetryingRespond; any other (a test's) as it is."""
    if isinstance(respond, AsyncRespond) and not isinstance(respond, RetryingRespond):
        return RetryingRespond(response_url=respond.response_url, proxy=respond.proxy, ssl=respond.ssl)
    return respond
# What Slack answers a post in a channel the bot cannot post to, said to the admin who chose the channel.
CHANNEL_REFUSALS = {
    "not_in_channel": "I'm not in that channel: invite me to it (`/invite` and my name, in the channel)",
    "channel_not_found": "Slack finds no such channel that I can see (deleted, or private without me in it)",
    "is_archived": "that channel is archived",
}


# What Slack answers conversations.open for a member the bot cannot write to: for good, not worth a retry.
DM_REFUSALS = {
    "user_disabled": "their account is deactivated",
    "user_not_found": "no such member in the workspace",
    "user_not_visible": "the bot may not see them",
    "cannot_dm_bot": "it is a bot",
}
# What chat.update answers for a message no longer there (deleted; its channel, or the DM, gone; one the bot cannot
# edit any more): an edit of it is done, not failed.
GONE = frozenset({"message_not_found", "channel_not_found", "cant_update_message"})
Undeliverable = Callable[[DirectMessage], Awaitable[list[Action]]]
Failed = Callable[[Action], Awaitable[object]]
# A keyed post (PostToChannel.key) carries it in its message metadata, which conversations.history returns with
# include_all_metadata: how a digest whose posting was never recorded is found in its channel (find_post).
POST_EVENT = "connective_post"
FIND_PAGES, FIND_PAGE_SIZE = 10, 200  # at most this much of a channel is read looking for one post
# What Slack answers a read of a channel the bot cannot read (it cannot post there either, without chat:write.public).
READ_REFUSALS = {**CHANNEL_REFUSALS, "missing_scope": "I may not read that channel's history (channels:history or "
                 "groups:history is missing: reinstall the app with its manifest)"}


def said(exc: SlackApiError) -> str:
    """What Slack answered, in one line an operator can act on (missing_scope names the scope to add)."""
    response = exc.response
    error = str(response.get("error") if response is not None else exc)[:100]
    if error == "missing_scope" and response is not None:
        needed = f" (needed: {str(response['needed'])[:60]})" if response.get("needed") else ""
        return f"missing_scope{needed}: add it under OAuth & Permissions and reinstall the app (deploy/slack/README.md)"
    return error


class SlackSender:
    """The core's Sender for platform "slack" (scheduled actions) and the listeners' way out."""

    def __init__(self, client: AsyncWebClient, web_url: str = "", delivered: Delivered | None = None,
                 undelivered: Undeliverable | None = None) -> None:
        self.client = client
        self.web_url = web_url  # the workspace's own host, for the permalinks of imported messages
        self.delivered = delivered  # told where a keyed DM went (bot.actions.DirectMessage.key)
        self.undelivered = undelivered  # asked what becomes of a keyed DM Slack refused for good
        self.still_there: StillThere | None = None  # set by the running bot (not a one-shot command)
        # The workspace the token's auth.test names (bot.actions.Serves); None: every Slack community (an org-wide
        # install on Enterprise Grid, whose one token reaches the org's workspaces, or a sender not yet connected).
        self.workspace: str | None = None

    def communities(self) -> frozenset[str] | None:
        return frozenset({self.workspace}) if self.workspace else None

    async def look_up(self, community: str, permalinks: list[str]) -> LookedUp:
        """The messages (by link) Slack no longer has, or has edited (bot.actions.ChecksMessages)."""
        if self.still_there is None:
            return LookedUp()
        return await self.still_there.look_up(community, permalinks)

    def _message(self, doc) -> dict[str, Any]:  # noqa: ANN001
        return message(in_workspace(doc, self.web_url))

    async def send(self, action: Action, *, respond: Respond | None = None) -> None:
        if isinstance(action, Reply):
            await self._reply(action, respond)
        elif isinstance(action, DirectMessage):
            channel = await self._open([action.user])
            sent = await self._post(channel, action.doc)
            if action.key and self.delivered is not None and sent.get("ts"):
                await self.delivered(action.key, sent.get("channel") or channel, sent["ts"])
        elif isinstance(action, OpenGroup):
            await self._post(await self._open(list(action.members)), action.doc)
        elif isinstance(action, PostToChannel):
            metadata = {"event_type": POST_EVENT, "event_payload": {"key": action.key}} if action.key else None
            try:
                await self._post(action.channel, action.doc, thread=action.thread, metadata=metadata,
                                 client=self._once() if action.key else None)
            except SlackApiError as exc:
                error = exc.response.get("error") if exc.response is not None else None
                if error in CHANNEL_REFUSALS:
                    raise ChannelRefused(CHANNEL_REFUSALS[error]) from None
                raise
        elif isinstance(action, UpdateMessage):
            await self._update(action.channel, action.message_ref, self._message(action.doc))
        elif isinstance(action, EditPost):
            await self._edit_post(action)
        else:
            log.warning("no Slack rendering for %s", type(action).__name__)

    async def send_all(self, actions: list[Action], *, respond: Respond | None = None,
                       failed: Failed | None = None) -> None:
        """`failed`: told of each action Slack failed or refused until someone acts (not one refused for good:
        Undelivered), which it may keep to send later (bot.outbox.keep_failed: what a member's erasure has Slack do to
        others' messages)."""
        for action in actions:
            try:
                await self.send(action, respond=respond)
            except Undelivered as exc:
                log.warning("%s not delivered: %s", type(action).__name__, exc)
                if isinstance(action, DirectMessage) and action.key and self.undelivered is not None:
                    # The core says what becomes of it (an intro request: the next expert is offered at once).
                    await self.send_all(await self.undelivered(action), respond=respond, failed=failed)
                continue
            except ChannelRefused as exc:  # a digest to edit in a channel the bot may no longer read
                log.warning("%s not delivered: %s", type(action).__name__, exc)
            except SlackApiError as exc:  # Slack's answer says it all: no traceback
                log.warning("Slack refused %s: %s", type(action).__name__, said(exc))
            except Exception:
                log.exception("sending %s to Slack failed", type(action).__name__)
            else:
                continue
            if failed is not None:
                await failed(action)

    async def _reply(self, reply: Reply, respond: Respond | None) -> None:
        body = self._message(reply.doc)
        if respond is None and not reply.channel:
            log.info("reply to an event with no channel and no response_url (e.g. App Home) dropped")
        elif respond is not None:
            answered = await retrying(respond)(**body, response_type="ephemeral" if reply.ephemeral else "in_channel",
                                               replace_original=False)
            status = getattr(answered, "status_code", None)
            if isinstance(status, int) and status >= 400:  # the URL is a credential: not logged
                log.warning("Slack refused the reply through response_url: %d %s", status,
                            str(getattr(answered, "body", ""))[:100])
        elif reply.channel.startswith("D"):  # the bot's own DM with the user: only they see it anyway
            await self._post(reply.channel, reply.doc, thread=reply.thread)
        elif reply.ephemeral:
            await self.client.chat_postEphemeral(channel=reply.channel, user=reply.user, thread_ts=reply.thread,
                                                 **body)
        else:
            await self._post(reply.channel, reply.doc, thread=reply.thread)

    async def _open(self, users: list[str]) -> str:
        """The DM (one user) or group DM (several; the bot is in it too) with these users. A member Slack lets no
        DM reach (deactivated, gone) is Undelivered: a retry would not change it."""
        try:
            response = await self.client.conversations_open(users=",".join(users))
        except SlackApiError as exc:
            error = exc.response.get("error") if exc.response is not None else None
            if error in DM_REFUSALS:
                raise Undelivered(f"Slack opens no DM with {','.join(users)[:100]}: {error} "
                                  f"({DM_REFUSALS[error]})") from None
            raise
        return response["channel"]["id"]

    async def _post(self, channel: str, doc, *, thread: str | None = None,  # noqa: ANN001
                    metadata: dict[str, Any] | None = None, client: AsyncWebClient | None = None) -> Any:
        return await (client or self.client).chat_postMessage(channel=channel, thread_ts=thread, unfurl_links=False,
                                                              unfurl_media=False, metadata=metadata,
                                                              **self._message(doc))

    def _once(self) -> AsyncWebClient:
        """The client for a keyed post (a digest), without slack_sdk's retry of a dropped connection: a post Slack
        took before the connection dropped was sent again at once, and the channel had it twice. The post fails
        instead, and whoever tries it again looks in the channel first (bot.services.digest)."""
        once = copy.copy(self.client)
        once.retry_handlers = [handler for handler in getattr(self.client, "retry_handlers", None) or []
                               if not isinstance(handler, AsyncConnectionErrorRetryHandler)]
        return once

    async def find_post(self, community: str, channel: str, key: str, since: datetime) -> bool:
        """Whether the channel holds the bot's post marked `key` (its metadata), posted since `since`
        (bot.actions.FindsPosts). A channel the bot cannot read is ChannelRefused."""
        return await self._find(channel, key, since) is not None

    async def _edit_post(self, action: EditPost) -> None:
        """The bot's post marked with the action's key, shown as its document now (its metadata kept); Undelivered
        where the channel no longer holds it (deleted: nothing to edit)."""
        ts = await self._find(action.channel, action.key, action.since, action.until)  # ChannelRefused: unreadable
        if ts is None:
            raise Undelivered(f"no post marked {action.key[:100]} in Slack channel {action.channel} to edit")
        metadata = {"event_type": POST_EVENT, "event_payload": {"key": action.key}}
        await self._update(action.channel, ts, {**self._message(action.doc), "metadata": metadata})

    async def _update(self, channel: str, ts: str, body: dict[str, Any]) -> None:
        """chat.update; Undelivered where the message is gone (deleted, its DM or channel with it): nothing is left to
        edit, and a retry would find nothing either."""
        try:
            await self.client.chat_update(channel=channel, ts=ts, **body)
        except SlackApiError as exc:
            error = exc.response.get("error") if exc.response is not None else None
            if error in GONE:
                raise Undelivered(f"Slack message {ts} in {channel} is not there to edit: {error}") from None
            raise

    async def _find(self, channel: str, key: str, since: datetime, until: datetime | None = None) -> str | None:
        """The ts of the bot's post marked `key`, posted since `since` (and before `until`), or None."""
        cursor = None
        for _ in range(FIND_PAGES):
            try:
                page = await self.client.conversations_history(
                    channel=channel, oldest=f"{since.timestamp():.6f}", include_all_metadata=True,
                    limit=FIND_PAGE_SIZE, cursor=cursor, **({"latest": f"{until.timestamp():.6f}"} if until else {}))
            except SlackApiError as exc:
                error = exc.response.get("error") if exc.response is not None else None
                if error in READ_REFUSALS:
                    raise ChannelRefused(READ_REFUSALS[error]) from None
                raise
            for said in page.get("messages") or []:
                metadata = said.get("metadata") or {}
                if metadata.get("event_type") == POST_EVENT and (metadata.get("event_payload") or {}).get("key") == key:
                    return str(said["ts"])
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return None
        log.warning("Slack channel %s: no post marked %s in its last %d messages; taken as not there", channel,
                    key[:100], FIND_PAGES * FIND_PAGE_SIZE)
        return None
