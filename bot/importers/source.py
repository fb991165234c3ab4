"""An export as a tree of JSON files, from a folder or a .zip archive."""
from __future__ import annotations

import json
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

from bot.errors import UserError


class DamagedFile(Exception):
    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name}: {reason}")
        self.name = name


class ExportSource:
    def __init__(self, path: Path) -> None:
        self.path = path
        if not path.exists():
            raise UserError(f"{path}: no such file or folder")
        self._zip: zipfile.ZipFile | None = None
        self._prefix = ""
        if path.is_file():
            try:
                self._zip = zipfile.ZipFile(path)
            except zipfile.BadZipFile:
                raise UserError(f"{path}: not a folder and not a .zip archive") from None
            names = [n for n in self._zip.namelist() if n.endswith("users.json")]
            if names:
                self._prefix = str(PurePosixPath(min(names, key=len)).parent).lstrip(".")
                self._prefix = f"{self._prefix}/" if self._prefix else ""

    def names(self, pattern: str = "*") -> list[str]:
        if self._zip is None:
            return sorted(str(p.relative_to(self.path)) for p in self.path.glob(pattern) if p.is_file())
        out = []
        for n in self._zip.namelist():
            if n.startswith(self._prefix) and not n.endswith("/"):
                rel = n[len(self._prefix):]
                if PurePosixPath(rel).match(pattern):
                    out.append(rel)
        return sorted(out)

    def files(self, suffix: str) -> list[str]:
        """Every file whose name ends with suffix, at any depth, sorted."""
        if self._zip is None:
            return sorted(str(p.relative_to(self.path)) for p in self.path.rglob(f"*{suffix}") if p.is_file())
        return sorted(n[len(self._prefix):] for n in self._zip.namelist()
                      if n.startswith(self._prefix) and n.endswith(suffix) and not n.endswith("/"))

    def exists(self, name: str) -> bool:
        if self._zip is None:
            return (self.path / name).is_file()
        return f"{self._prefix}{name}" in self._zip.NameToInfo

    def read_json(self, name: str) -> Any:
        try:
            if self._zip is None:
                raw = (self.path / name).read_bytes()
            else:
                raw = self._zip.read(f"{self._prefix}{name}")
            return json.loads(raw.decode("utf-8", errors="replace"))
        except (OSError, zipfile.BadZipFile, KeyError) as exc:
            raise DamagedFile(name, f"cannot read ({exc})") from None
        except json.JSONDecodeError as exc:
            raise DamagedFile(name, f"not valid JSON (line {exc.lineno}, column {exc.colno})") from None

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()
