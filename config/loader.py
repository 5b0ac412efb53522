"""Find, read and validate the configuration; turn every mistake into one clear message."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import SecretStr, ValidationError

from config.settings import Settings, toml_data

SYSTEM_CONFIG = Path("/etc/imagegen/imagegen.toml")
DEFAULT_TOML = Path(__file__).with_name("imagegen.default.toml")

# Secrets come from the providers' own variable names or systemd credentials,
# never from the TOML file an operator might paste into a ticket.
SECRET_SOURCES = {
    "openai": ("OPENAI_API_KEY", "openai_api_key"),
    "anthropic": ("ANTHROPIC_API_KEY", "anthropic_api_key"),
}


class ConfigError(Exception):
    """The configuration cannot be used; the message names key, value and what is allowed."""


def config_path(
    explicit: Path | None = None, environ: Mapping[str, str] = os.environ
) -> Path | None:
    """--config, else IMAGEGEN_CONFIG, else /etc/imagegen/imagegen.toml when it exists."""
    if explicit is not None:
        return explicit
    if environ.get("IMAGEGEN_CONFIG"):
        return Path(environ["IMAGEGEN_CONFIG"])
    return SYSTEM_CONFIG if SYSTEM_CONFIG.is_file() else None


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(
            f"config file {path} does not exist (from --config or IMAGEGEN_CONFIG)"
        ) from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config file {path} is not valid TOML: {e}") from None
    except OSError as e:
        raise ConfigError(f"config file {path} cannot be read: {e.strerror}") from None


def load_settings(
    config_file: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] = os.environ,
) -> Settings:
    """Build the effective settings: defaults < TOML < IMAGEGEN_* environment < overrides."""
    path = config_path(config_file, environ)
    data = read_toml(path) if path is not None else {}
    token = toml_data.set(data)
    try:
        settings = Settings(**dict(overrides or {}))
    except ValidationError as e:
        raise ConfigError(_explain(e, path, data, dict(overrides or {}), environ)) from None
    finally:
        toml_data.reset(token)
    _fill_secrets(settings, environ)
    return settings


def _fill_secrets(settings: Settings, environ: Mapping[str, str]) -> None:
    cred_dir = environ.get("CREDENTIALS_DIRECTORY")
    for section_name, (env_name, cred_name) in SECRET_SOURCES.items():
        section = getattr(settings, section_name)
        if section.api_key is not None and section.api_key.get_secret_value():
            continue
        value = environ.get(env_name, "").strip()
        if not value and cred_dir:
            cred = Path(cred_dir) / cred_name
            if cred.is_file():
                value = cred.read_text(encoding="utf-8").strip()
        section.api_key = SecretStr(value) if value else None


def secret_source(section: str, environ: Mapping[str, str] = os.environ) -> str | None:
    """Where a key came from, for `imagegen config`: never the key itself."""
    env_name, cred_name = SECRET_SOURCES[section]
    if environ.get(f"IMAGEGEN_{section.upper()}__API_KEY"):
        return f"IMAGEGEN_{section.upper()}__API_KEY"
    if environ.get(env_name, "").strip():
        return env_name
    cred_dir = environ.get("CREDENTIALS_DIRECTORY")
    if cred_dir and (Path(cred_dir) / cred_name).is_file():
        return f"credential {cred_name}"
    return None


def _explain(
    err: ValidationError,
    path: Path | None,
    data: Mapping[str, Any],
    overrides: Mapping[str, Any],
    environ: Mapping[str, str],
) -> str:
    lines = []
    for item in err.errors():
        loc = [str(p) for p in item["loc"]]
        key = ".".join(loc) or "(settings)"
        source = _source_of(loc, path, data, overrides, environ)
        msg = item["msg"]
        if item["type"] == "extra_forbidden":
            msg = "unknown setting (see config/imagegen.default.toml for the valid keys)"
        value = item.get("input")
        shown = "" if item["type"] in ("extra_forbidden", "missing") else f" = {_short(value)}"
        if "api_key" in key:
            shown = " = '**********'"
        lines.append(f"{key}{shown} ({source}): {msg}")
    return "invalid configuration:\n  " + "\n  ".join(lines)


def _source_of(
    loc: list[str],
    path: Path | None,
    data: Mapping[str, Any],
    overrides: Mapping[str, Any],
    environ: Mapping[str, str],
) -> str:
    if loc and loc[0] in overrides:
        return "command line"
    for n in range(len(loc), 0, -1):
        candidate = "IMAGEGEN_" + "__".join(p.upper() for p in loc[:n])
        if candidate in environ:
            return f"environment {candidate}"
    node: Any = data
    for part in loc:
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            break
    else:
        return f"config file {path}"
    if loc and loc[0] in data:
        return f"config file {path}"
    return "defaults"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
