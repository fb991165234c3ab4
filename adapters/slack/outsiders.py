"""Who in a Slack workspace is no member of its community: people of another organisation in a Slack Connect
channel (their account's workspace is another, or Slack calls them a stranger), and guests (multi-channel and
single-channel). None of them joined the community: their messages and reactions are not stored, so they are never
profiled nor suggested, the links they share are in no digest, and they are not asked or answered (one line says
why; their /optout and /forget-me still work). Told by users.info, asked once per account a process (Directory), or
at once by an event's `user_team` where it names another workspace."""
from __future__ import annotations

from adapters.slack.directory import Person
from adapters.slack.translate import Workspace

EXTERNAL, GUEST = "external", "guest"

REFUSALS = {
    EXTERNAL: "connective answers the members of this workspace only, not people of other organisations in a "
              "shared channel.",
    GUEST: "connective answers the full members of this workspace only, not guests.",
}


def outsider(person: Person, workspace: Workspace, *, team: object = None) -> str | None:
    """EXTERNAL, GUEST, or None for a member. `team`: the workspace an event names for its author (`user_team`).
    Compared with the workspace the bot serves, not with the payload's team id, which a person of another
    organisation's request may give as theirs. An org-wide install (Enterprise Grid) serves the org's workspaces with
    one token: another workspace of the org is no other organisation there, and only Slack's is_stranger tells one."""
    if person.is_stranger:
        return EXTERNAL
    if not workspace.org_wide:
        for theirs in (team, person.team):
            if isinstance(theirs, str) and theirs and theirs != workspace.team_id:
                return EXTERNAL
    return GUEST if person.is_guest else None


def team_of(event: object) -> object:
    """The workspace an Events API event names for its author: `user_team` (a message, its edit's message, an
    app_mention in a shared channel)."""
    if not isinstance(event, dict):
        return None
    message = event.get("message")
    if event.get("subtype") == "message_changed" and isinstance(message, dict):
        return message.get("user_team")
    return event.get("user_team")
