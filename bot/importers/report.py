from __future__ import annotations

from dataclasses import dataclass, field


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
    system_notices: int = 0  # joins, topic changes, pins, "started a thread"…
    no_author: int = 0  # a message nobody is named as having written
    malformed: int = 0  # a timestamp, id or text that is not what the platform writes
    not_stored: int = 0  # by a member who opted out, deleted on the platform since, or repeated in the export
    embedded: int = 0
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    fitted: dict | None = None

    @property
    def skipped(self) -> int:
        return self.system_notices + self.no_author + self.malformed + self.not_stored

    def summary(self) -> str:
        files = f"{self.files} files" + (f" ({self.files_left_out} more private or direct-message files left out)"
                                         if self.files_left_out else "")
        why = ", ".join(f"{n} {label}" for n, label in (
            (self.system_notices, "system notices"), (self.no_author, "without an author"),
            (self.malformed, "malformed"), (self.not_stored, "opted out, deleted or repeated")) if n)
        return (f"{self.community}: {files}, {self.messages_seen} messages read, {self.added} new, "
                f"{self.updated} edited, {self.skipped} skipped" + (f" ({why})" if why else "")
                + f", {self.embedded} embedded"
                + (f", {len(self.errors)} damaged file(s)" if self.errors else ""))
