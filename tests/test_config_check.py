"""`connective config check`: one line per problem and exit 1, or ok and exit 0."""
from __future__ import annotations

import os
import subprocess
import sys


def check(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("SLACK_", "DISCORD_", "CONNECTIVE_"))}
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], capture_output=True, text=True,
                          env={**clean, **(env or {})}, timeout=300)


def test_config_check_lists_each_problem(tmp_path):
    out = check("--db", "postgresql://u:hidden@127.0.0.1:1/none", "config", "check", "--platform", "slack",
                env={"CONNECTIVE_MODEL_PATH": str(tmp_path)})
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    problems = [line for line in lines if line.startswith("problem: ")]
    assert len(problems) == 4, out.stderr
    assert any("SLACK_BOT_TOKEN" in p for p in problems) and any("not reachable" in p for p in problems)
    assert any("no model in" in p for p in problems) and "hidden" not in out.stderr


def test_config_check_passes_a_good_configuration(tmp_path):
    out = check("--db", f"sqlite:///{tmp_path / 'c.db'}", "config", "check", "--platform", "discord",
                env={"DISCORD_TOKEN": "x" * 30})
    assert out.returncode == 0, out.stderr
    assert "ok" in out.stdout and "x" * 30 not in out.stdout + out.stderr
