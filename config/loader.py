"""Find, read and validate the configuration; turn every mistake into one clear message."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import SecretStr, ValidationError

from config.prices import DEFAULT_PRICES, image_price_keys, priced_image_models, text_price_keys
from config.settings import ImageModel, Settings, toml_data

SYSTEM_CONFIG = Path("/etc/imagegen/imagegen.toml")
DEFAULT_TOML = Path(__file__).with_name("imagegen.default.toml")

# Secrets come from the providers' own variable names or systemd credentials,
# never from the TOML file an operator might paste into a ticket.
SECRET_SOURCES = {
    "openai": ("OPENAI_API_KEY", "openai_api_key"),
    "anthropic": ("ANTHROPIC_API_KEY", "anthropic_api_key"),
    "gemini": ("GEMINI_API_KEY", "gemini_api_key"),
    "replicate": ("REPLICATE_API_TOKEN", "replicate_api_token"),
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
    unpriced = _unpriced_models(settings)
    if unpriced:
        lines = [
            f"{'.'.join(loc)} = {_short(value)} "
            f"({_source_of(list(loc), path, data, dict(overrides or {}), environ)}): {msg}"
            for loc, value, msg in unpriced
        ]
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines))
    _fill_secrets(settings, environ)
    return settings


def _unpriced_models(settings: Settings) -> list[tuple[tuple[str, ...], str, str]]:
    """(key, model, message) for every configured model the price table does not know.

    Every paid call is reserved against the cost cap at its table price; a model with
    no price would only be found out at the first call (and then reserved at a guess),
    so it must be priced explicitly under [prices]. Checked here rather than in
    Settings because the message names where the model came from, as _explain does."""
    prices = {**DEFAULT_PRICES, **settings.prices}
    problems: list[tuple[tuple[str, ...], str, str]] = []
    for loc, link in image_links(settings):
        keys = image_price_keys(link.model, link.quality, link.size, link.provider)
        if not any(key in prices for key in keys):
            suggested = keys[0] if link.provider == "openai" else keys[-1]
            problems.append(
                (
                    loc,
                    link.model,
                    f"no price for this model at quality {link.quality!r}, size {link.size!r} "
                    f"(priced models: {', '.join(priced_image_models(prices, link.provider))}); "
                    "check the name, or for another model set its USD price per image under "
                    f'[prices]: "{suggested}" = <USD>',
                )
            )
    text_models: list[tuple[tuple[str, ...], str | None]] = []
    if settings.prompt.writer != "template":
        text_models.append((("prompt", "model"), settings.prompt.model))
    if settings.refine.enabled and settings.refine.critic != "rules":
        text_models.append((("refine", "critic_model"), settings.refine.critic_model))
    for loc, text_model in text_models:
        if text_model is None:
            continue
        missing = [f'"{key}" = <USD>' for key in text_price_keys(text_model) if key not in prices]
        if missing:
            problems.append(
                (
                    loc,
                    text_model,
                    "no price for this model; check the name, or set its USD prices per "
                    f"million tokens under [prices]: {', '.join(missing)}",
                )
            )
    return problems


def image_links(settings: Settings) -> list[tuple[tuple[str, ...], ImageModel]]:
    """Every paid image link the settings name, with the key it is set under."""
    image = settings.image
    links: list[tuple[tuple[str, ...], ImageModel]] = []
    if image.provider != "offline":
        # "auto" with no OpenAI key serves another provider's defaults: priced already.
        provider = "openai" if image.provider == "auto" else image.provider
        primary = ImageModel.model_construct(
            provider=provider, model=image.model, size=image.size, quality=image.quality
        )
        links.append((("image", "model"), primary))
    for i, link in enumerate(image.fallback):
        links.append((("image", "fallback", str(i), "model"), link))
    for visual_type, chain in image.chains.items():
        for i, link in enumerate(chain):
            links.append((("image", "chains", visual_type, str(i), "model"), link))
    return [(loc, link) for loc, link in links if link.provider != "offline"]


def setting_source(
    loc: tuple[str, ...],
    config_file: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] = os.environ,
) -> str:
    """Where the effective value of the setting at `loc` came from, for messages about
    a valid value that does not work ("command line", "environment IMAGEGEN_...",
    "config file PATH" or "defaults"). Reads the file again: the loader keeps no state."""
    path = config_path(config_file, environ)
    data = read_toml(path) if path is not None else {}
    return _source_of(list(loc), path, data, dict(overrides or {}), environ)


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
