from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ImportReport:
    community: str = ""
    files: int = 0
    messages_seen: int = 0
    added: int = 0
    updated: int = 0
    skipped: int = 0
    embedded: int = 0
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    fitted: dict | None = None

    def summary(self) -> str:
        return (f"{self.community}: {self.files} files, {self.messages_seen} messages read, {self.added} new, "
                f"{self.updated} edited, {self.skipped} skipped, {self.embedded} embedded"
                + (f", {len(self.errors)} damaged file(s)" if self.errors else ""))
