"""`connective digest preview` on an imported history, as a community manager would run it."""
from __future__ import annotations

import subprocess
import sys

from tests.conftest import SAMPLE

CLI = [sys.executable, "-m", "bot.cli"]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=600)


def test_digest_preview_of_an_imported_history(tmp_path):
    url = f"sqlite:///{tmp_path / 'sample.db'}"
    assert run("--db", url, "import", "slack", str(SAMPLE)).returncode == 0

    out = run("--db", url, "digest", "preview")  # default: the last active period of this history
    assert out.returncode == 0, out.stderr[-2000:]
    assert "here is the last active period" in out.stdout
    assert "Community digest, Nov 16 – Nov 23, 2026" in out.stdout
    assert "shared by " in out.stdout and "discussion: https://slack.com/archives/" in out.stdout

    out = run("--db", url, "digest", "preview", "--since", "2026-10-01", "--until", "2026-10-07")
    assert out.returncode == 0, out.stderr[-2000:]
    assert "Oct 1 – Oct 7, 2026" in out.stdout

    out = run("--db", url, "digest", "preview", "--since", "yesterday-ish")
    assert out.returncode != 0 and "is not a date" in out.stderr and "Traceback" not in out.stderr


def test_digest_preview_finds_a_subscription_by_its_channel_name_as_typed(tmp_path):
    """`--channel General` (or "#General") was "no digest subscription for channel 'General'" for #general's, as the
    name was compared case and all, and the error never said which channels have one."""
    url = f"sqlite:///{tmp_path / 'sample.db'}"
    assert run("--db", url, "import", "slack", str(SAMPLE)).returncode == 0
    out = run("--db", url, "digest", "preview", "--channel", "general")
    assert (out.returncode, out.stderr) == (2, "error: no digest subscription for channel 'general' in this community "
                                               "(none yet: `/digest subscribe #channel` in the chat)\n"), out.stderr
    chat = subprocess.run([*CLI, "--db", url, "chat", "--as", "Sam"], input="/digest subscribe #general\n",
                          capture_output=True, text=True, timeout=600)
    assert chat.returncode == 0, chat.stderr[-2000:]
    for typed in ("general", "#General", "GENERAL"):
        out = run("--db", url, "digest", "preview", "--channel", typed)
        assert out.returncode == 0 and "Community digest" in out.stdout, (typed, out.stderr)
    out = run("--db", url, "digest", "preview", "--channel", "random")
    assert (out.returncode, out.stderr) == (2, "error: no digest subscription for channel 'random' in this community "
                                               "(subscribed: #general)\n"), out.stderr
