"""An export as a tree of JSON files, from a folder or a .zip archive."""
from __future__ import annotations

import json
import logging
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import Any

from bot.errors import UserError

log = logging.getLogger(__name__)


def listed(value: Any) -> list:
    """A list field as exported, or nothing: `"reactions": 5` in a damaged file is no list to read."""
    return value if isinstance(value, list) else []


class DamagedFile(Exception):
    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name}: {reason}")
        self.name = name


def is_mac_metadata(name: str) -> bool:
    """A resource fork macOS writes beside each file it archives (__MACOSX/..., ._name): never JSON."""
    return name.startswith("__MACOSX/") or PurePosixPath(name).name.startswith("._")


def export_root(names: list[str]) -> str:
    """The folder of an archive that holds the export ("" or "Export Nov 2023/"): the one with the shallowest
    users.json, org_users.json (Enterprise Grid) or channels.json, as an archive of the export's folder has it under
    one top folder."""
    found = [PurePosixPath(n) for n in names if not is_mac_metadata(n)
             and PurePosixPath(n).name in ("users.json", "org_users.json", "channels.json")]
    if not found:
        return ""
    root = min(found, key=lambda p: len(p.parts)).parent
    return "" if root == PurePosixPath(".") else f"{root}/"


def _begins_as_zip(path: Path) -> bool:
    """Whether a file starts as a .zip archive does (its first file's header), whatever became of the rest."""
    try:
        with path.open("rb") as f:
            return f.read(4) == b"PK\x03\x04"
    except OSError:
        return False


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
            except zipfile.BadZipFile as exc:
                if _begins_as_zip(path):  # its end, which lists the files, is missing: a download cut short
                    raise UserError(f"{path}: a .zip archive that cannot be read ({exc}): incomplete or damaged; "
                                    "download or copy the export again") from None
                raise UserError(f"{path}: not a folder and not a .zip archive") from None
            self._prefix = export_root(self._zip.namelist())

    def names(self, pattern: str = "*") -> list[str]:
        """Files matching pattern from the export's root, part for part: "general/*.json" finds
        general/2023-11-14.json, not __MACOSX/general/._2023-11-14.json (Path.match matches from the right)."""
        if self._zip is None:
            found = [p.relative_to(self.path).as_posix() for p in self.path.glob(pattern) if p.is_file()]
        else:
            depth = len(PurePosixPath(pattern).parts)
            found = [n for n in self._zip_names() if len(PurePosixPath(n).parts) == depth
                     and PurePosixPath(n).match(pattern)]
        return sorted(n for n in found if not is_mac_metadata(n))

    def files(self, suffix: str) -> list[str]:
        """Every file whose name ends with suffix, at any depth, sorted."""
        if self._zip is None:
            found = [p.relative_to(self.path).as_posix() for p in self.path.rglob(f"*{suffix}") if p.is_file()]
        else:
            found = [n for n in self._zip_names() if n.endswith(suffix)]
        return sorted(n for n in found if not is_mac_metadata(n))

    def local_file(self, name: str) -> Path | None:
        """The file on disk a name is, resolved; None inside a .zip archive."""
        return None if self._zip is not None else (self.path / name).resolve()

    def _zip_names(self) -> list[str]:
        assert self._zip is not None
        return [n[len(self._prefix):] for n in self._zip.namelist()
                if n.startswith(self._prefix) and not n.endswith("/")]

    def exists(self, name: str) -> bool:
        if self._zip is None:
            return (self.path / name).is_file()
        return f"{self._prefix}{name}" in self._zip.NameToInfo

    def label(self, name: str) -> str:
        """A file of the export as a message names it: its path, or the archive's path and the name inside."""
        return f"{self.path / name}" if self._zip is None else f"{self.path}:{self._prefix}{name}"

    def read_json(self, name: str) -> Any:
        """The file's JSON; DamagedFile (named by its label) when it cannot be read or is not JSON."""
        try:
            if self._zip is None:
                raw = (self.path / name).read_bytes()
            else:
                raw = self._zip.read(f"{self._prefix}{name}")
        except (OSError, zipfile.BadZipFile, KeyError, zlib.error, EOFError, NotImplementedError, RuntimeError) as exc:
            # zlib.error and EOFError: damaged or cut compressed data inside an archive; NotImplementedError: a
            # compression method Python cannot read; RuntimeError: an encrypted member. Only this file is lost.
            raise DamagedFile(self.label(name), f"cannot read ({exc})") from None
        try:
            # "utf-8-sig": a BOM, as PowerShell writes one, made the file "not valid JSON (line 1, column 1)"
            try:
                text = raw.decode("utf-8-sig")
            except UnicodeDecodeError as exc:  # kept, and said: the bytes that are not UTF-8 read as "\ufffd"
                bom = 3 if raw.startswith(b"\xef\xbb\xbf") else 0  # the decoder counts from after it
                log.warning("%s: not valid UTF-8 (first at byte %d): the bytes that are not were read as \ufffd",
                            self.label(name), exc.start + bom)
                text = raw.decode("utf-8-sig", errors="replace")
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise DamagedFile(self.label(name), f"not valid JSON (line {exc.lineno}, column {exc.colno})") from None
        except (RecursionError, ValueError):  # nested too deep, or an integer of thousands of digits
            raise DamagedFile(self.label(name), "not valid JSON (nested too deeply, or a number too long)") from None

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()
