"""Configuration of imagegen: the Settings model and its loader."""

from config.loader import (
    ConfigError,
    config_path,
    load_settings,
    secret_source,
    setting_source,
)
from config.settings import Settings

__all__ = [
    "ConfigError",
    "Settings",
    "config_path",
    "load_settings",
    "secret_source",
    "setting_source",
]
