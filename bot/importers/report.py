from __future__ import annotations

from dataclasses import dataclass, field


def counted(n: int, one: str, many: str | None = None) -> str:
    """"1 file", "2 files" ("3 malformed": no plural given, none)."""
    return f"{n} {one if n == 1 or many is None else many}"


@dataclass
class ImportReport:
    """What an import read and did. Messages left out are counted by why, so that an admin can tell channel
    notices (expected) from messages the export could not attribute or parse (worth a look)."""

    community: str = ""
    files: int = 0  # export files read and imported from
    files_left_out: int = 0  # read, but private or direct-message conversations not imported
    messages_seen: int = 0
    added: int = 0
    updated: int = 0
    deleted: int = 0  # stored messages the export shows deleted on the platform since
    system_notices: int = 0  # joins, topic changes, pins, "started a thread"…
    no_author: int = 0  # a message nobody is named as having written
    malformed: int = 0  # a timestamp, id or text that is not what the platform writes
    not_stored: int = 0  # by a member who opted out, deleted on the platform since, repeated in the export, or
    # by no member (a guest, another organisation's person in a Slack Connect channel)
    not_read: int = 0  # in a channel not read here (turned off by an admin, or private and not turned on)
    embedded: int = 0
    errors: list[str] = field(default_factory=list)  # one line each, naming the file or what stopped the import
    damaged_files: int = 0  # files left out as unreadable, not JSON or not shaped as an export (each in errors)
    notes: list[str] = field(default_factory=list)
    fitted: dict | None = None

    def damaged(self, line: str) -> None:
        """A file left out as damaged, said in one line naming it (the rest of the export is still read)."""
        self.errors.append(line)
        self.damaged_files += 1

    @property
    def skipped(self) -> int:
        return self.system_notices + self.no_author + self.malformed + self.not_stored + self.not_read

    def summary(self) -> str:
        files = counted(self.files, "file", "files") + (
            f" ({self.files_left_out} more private or direct-message "
            f"{'file' if self.files_left_out == 1 else 'files'} left out)" if self.files_left_out else "")
        why = ", ".join(counted(n, one, many) for n, one, many in (
            (self.system_notices, "system notice", "system notices"), (self.no_author, "without an author", None),
            (self.malformed, "malformed", None), (self.not_stored, "opted out, deleted or repeated", None),
            (self.not_read, "in channels not read", None)) if n)
        return (f"{self.community}: {files}, {counted(self.messages_seen, 'message', 'messages')} read, "
                f"{self.added} new, {self.updated} edited"
                + (f", {self.deleted} deleted" if self.deleted else "")
                + f", {self.skipped} skipped" + (f" ({why})" if why else "")
                + f", {self.embedded} embedded"
                + (f", {counted(self.damaged_files, 'damaged file', 'damaged files')}" if self.damaged_files else ""))
