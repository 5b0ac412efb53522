"""Configuration: precedence, validation messages that name key, value and what is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from config import ConfigError, Settings, load_settings
from config.loader import DEFAULT_TOML


def write_toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "imagegen.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_documented_default_toml_equals_built_in_defaults():
    assert load_settings(DEFAULT_TOML).model_dump() == Settings().model_dump()


def test_precedence_defaults_toml_env_cli(tmp_path, monkeypatch):
    toml = write_toml(
        tmp_path, '[image]\nmodel = "gpt-image-1"\nquality = "high"\nconcurrency = 2\n'
    )
    s = load_settings(toml)
    assert (s.image.model, s.image.quality, s.image.concurrency) == ("gpt-image-1", "high", 2)
    monkeypatch.setenv("IMAGEGEN_IMAGE__QUALITY", "low")
    s = load_settings(toml)
    assert (s.image.model, s.image.quality) == ("gpt-image-1", "low")
    s = load_settings(toml, overrides={"max_episode_cost_usd": 1.5})
    assert s.max_episode_cost_usd == 1.5 and s.image.quality == "low"


def test_config_file_from_environment(tmp_path, monkeypatch):
    toml = write_toml(tmp_path, "max_episode_cost_usd = 9.5\n")
    monkeypatch.setenv("IMAGEGEN_CONFIG", str(toml))
    assert load_settings().max_episode_cost_usd == 9.5


def test_invalid_value_names_key_value_source_and_allowed(tmp_path):
    toml = write_toml(tmp_path, '[prompt]\nwriter = "gpt"\n')
    with pytest.raises(ConfigError) as err:
        load_settings(toml)
    text = str(err.value)
    assert "prompt.writer = 'gpt'" in text
    assert f"config file {toml}" in text
    assert "'auto', 'template', 'anthropic' or 'openai'" in text


def test_invalid_env_value_names_the_variable(monkeypatch):
    monkeypatch.setenv("IMAGEGEN_FRAME__WIDTH", "wide")
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert "frame.width = 'wide' (environment IMAGEGEN_FRAME__WIDTH)" in str(err.value)


@pytest.mark.parametrize(
    ("toml_text", "key"),
    [
        ("max_episode_cost_usd = inf\n", "max_episode_cost_usd = inf"),
        ("[daemon]\nsettle_seconds = nan\n", "daemon.settle_seconds = nan"),
    ],
)
def test_inf_and_nan_are_refused(tmp_path, toml_text, key):
    """TOML allows them; provenance would then carry JSON no strict reader accepts, and
    an infinite cap is no cap. An operator who means "no cap" sets a large number."""
    with pytest.raises(ConfigError) as err:
        load_settings(write_toml(tmp_path, toml_text))
    assert key in str(err.value) and "finite number" in str(err.value)


def test_unknown_key_is_an_error(tmp_path):
    toml = write_toml(tmp_path, "[image]\nmodle = 'x'\n")
    with pytest.raises(ConfigError, match=r"image\.modle .*unknown setting"):
        load_settings(toml)


def test_bad_toml_names_the_file(tmp_path):
    toml = write_toml(tmp_path, "outputs_dir = \n")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_settings(toml)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml")


def test_bad_colour_and_size(tmp_path):
    toml = write_toml(tmp_path, '[brand]\ntitle_card_color = "orange"\n[image]\nsize = "big"\n')
    with pytest.raises(ConfigError) as err:
        load_settings(toml)
    assert "brand.title_card_color = 'orange'" in str(err.value) and "#RRGGBB" in str(err.value)
    assert "image.size = 'big'" in str(err.value)


def test_keys_from_env_and_credentials(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-123")
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "anthropic_api_key").write_text("sk-ant-cred-456\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    s = load_settings()
    assert s.openai.api_key is not None and s.openai.api_key.get_secret_value() == "sk-env-123"
    assert s.anthropic.api_key is not None
    assert s.anthropic.api_key.get_secret_value() == "sk-ant-cred-456"
    assert "sk-env-123" not in repr(s) and "sk-env-123" not in s.model_dump_json()


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ('model = "dall-e-3"\nquality = "medium"', "quality 'medium' is not valid for dall-e-3"),
        ('model = "dall-e-3"\nquality = "hd"\nsize = "1536x1024"', "size '1536x1024' is not valid"),
        ('model = "gpt-image-1.5"\nsize = "1792x1024"', "allowed: 1024x1024, 1536x1024"),
        ('model = "gpt-image-1"\nstyle = "vivid"', "style is a dall-e-3 option"),
        ('model = "gpt-image-2"\nsize = "1920x1080"', "multiples of 16"),
    ],
)
def test_image_options_must_fit_the_model(tmp_path, section, message):
    toml = write_toml(tmp_path, f"[image]\n{section}\n")
    with pytest.raises(ConfigError, match=message):
        load_settings(toml)


def test_valid_model_options(tmp_path):
    toml = write_toml(
        tmp_path,
        '[image]\nmodel = "dall-e-3"\nquality = "hd"\nsize = "1792x1024"\nstyle = "natural"\n'
        '[[image.fallback]]\nmodel = "gpt-image-2"\nsize = "1920x1088"\nquality = "high"\n'
        '[prices]\n"image:gpt-image-2:high:1920x1088" = 0.2\n',
    )
    s = load_settings(toml)
    assert s.image.style == "natural" and s.image.fallback[0].size == "1920x1088"


# -- model names are checked against the price table (issue 18, item 9) ------------------


def test_unknown_image_model_from_the_environment_is_refused(monkeypatch):
    monkeypatch.setenv("IMAGEGEN_IMAGE__MODEL", "foo")
    with pytest.raises(ConfigError) as err:
        load_settings()
    text = str(err.value)
    assert "image.model = 'foo' (environment IMAGEGEN_IMAGE__MODEL)" in text
    assert "priced models: dall-e-3, gpt-image-1, gpt-image-1-mini, gpt-image-1.5" in text
    assert '[prices]: "image:foo:medium:1536x1024" = <USD>' in text


def test_unknown_model_runs_once_its_price_is_set(tmp_path):
    toml = write_toml(
        tmp_path,
        '[image]\nmodel = "house-model"\n[prices]\n"image:house-model:medium:1536x1024" = 0.07\n',
    )
    assert load_settings(toml).image.model == "house-model"


def test_unpriced_fallback_and_prompt_model_name_their_keys(tmp_path):
    toml = write_toml(
        tmp_path,
        '[[image.fallback]]\nmodel = "gpt-image-2"\nsize = "1920x1088"\n'
        '[prompt]\nwriter = "anthropic"\nmodel = "claude-sonet-4"\n',
    )
    with pytest.raises(ConfigError) as err:
        load_settings(toml)
    text = str(err.value)
    assert f"image.fallback.0.model = 'gpt-image-2' (config file {toml})" in text
    assert '"image:gpt-image-2:medium:1920x1088" = <USD>' in text
    assert f"prompt.model = 'claude-sonet-4' (config file {toml})" in text
    assert '"text:claude-sonet-4:input_per_mtok" = <USD>' in text


def test_offline_provider_needs_no_price():
    settings = load_settings(overrides={"image": {"provider": "offline", "model": "anything"}})
    assert settings.image.model == "anything"
