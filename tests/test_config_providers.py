"""Configuration of the image providers: chain shapes, provider defaults, prices of
every provider's models, keys from the environment and systemd credentials, and
`imagegen config` saying which providers are usable."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from config import ConfigError, load_settings
from handlers.api.key_check import forget_verified_keys
from handlers.imagegen import provider_report
from handlers.run.services import build_services
from tests.conftest import REPO
from tests.support.env import child_env


@pytest.fixture(autouse=True)
def _fresh_keys() -> None:
    forget_verified_keys()


def write_toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "imagegen.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_todays_image_and_fallback_tables_keep_working(tmp_path):
    toml = write_toml(
        tmp_path,
        '[image]\nmodel = "gpt-image-1"\n'
        '[[image.fallback]]\nprovider = "openai"\nmodel = "gpt-image-1-mini"\nquality = "low"\n',
    )
    settings = load_settings(toml, overrides={"openai": {"api_key": "sk-x"}})
    services = build_services(settings)
    assert [s.label for s in services.chain] == ["openai:gpt-image-1", "openai:gpt-image-1-mini"]
    assert services.chains == {}


def test_chains_per_visual_type_and_the_offline_stand_in(tmp_path):
    toml = write_toml(
        tmp_path,
        "[image]\nfallback_offline = true\n"
        '[[image.fallback]]\nprovider = "gemini"\n'
        '[[image.chains.b_roll]]\nprovider = "replicate"\n'
        '[[image.chains.b_roll]]\nprovider = "openai"\nmodel = "gpt-image-1.5"\n',
    )
    settings = load_settings(toml, overrides={"openai": {"api_key": "sk-x"}})
    services = build_services(settings)
    assert [s.label for s in services.chain] == [
        "openai:gpt-image-1.5",
        "gemini:gemini-2.5-flash-image",
        "offline:offline-pillow-1",
    ]
    assert [s.label for s in services.chain_for("b_roll")] == [
        "replicate:black-forest-labs/flux-schnell",
        "openai:gpt-image-1.5",
        "offline:offline-pillow-1",
    ]
    b_roll = settings.image.chains["b_roll"][0]
    assert (b_roll.size, b_roll.quality) == ("auto", "auto")  # the provider's defaults


def test_a_chain_for_a_template_type_is_refused(tmp_path):
    toml = write_toml(tmp_path, '[[image.chains.title_card]]\nprovider = "gemini"\n')
    with pytest.raises(ConfigError) as err:
        load_settings(toml)
    text = str(err.value)
    assert "image.chains" in text and f"config file {toml}" in text
    assert "'title_card' is not a visual type an image provider makes" in text
    assert "b_roll, diagram, screen_share" in text


@pytest.mark.parametrize(
    ("link", "words"),
    [
        ('provider = "replicate"\nmodel = "flux"', "is not a Replicate model"),
        ('provider = "replicate"\nquality = "high"', "Replicate models take no quality"),
        ('provider = "gemini"\nquality = "8K"', "allowed: auto, 1K, 2K, 4K"),
        ('provider = "gemini"\ninput = { steps = 4 }', "input is a Replicate option"),
        ('provider = "openai"\nstyle = "vivid"', "style is a dall-e-3 option"),
    ],
)
def test_link_options_each_provider_does_not_take_are_refused(tmp_path, link, words):
    toml = write_toml(tmp_path, f"[[image.fallback]]\n{link}\n")
    with pytest.raises(ConfigError) as err:
        load_settings(toml)
    assert "image.fallback.0" in str(err.value) and words in str(err.value)


def test_an_unpriced_replicate_model_needs_its_price(tmp_path):
    toml = write_toml(
        tmp_path, '[[image.chains.diagram]]\nprovider = "replicate"\nmodel = "acme/paint"\n'
    )
    with pytest.raises(ConfigError) as err:
        load_settings(toml)
    text = str(err.value)
    assert "image.chains.diagram.0.model = 'acme/paint'" in text
    assert '[prices]: "image:acme/paint" = <USD>' in text
    assert "black-forest-labs/flux-schnell" in text and "gpt-image-1.5" not in text
    priced = write_toml(
        tmp_path,
        '[[image.chains.diagram]]\nprovider = "replicate"\nmodel = "acme/paint"\n'
        '[prices]\n"image:acme/paint" = 0.01\n',
    )
    assert load_settings(priced).image.chains["diagram"][0].model == "acme/paint"


def test_a_replicate_version_is_priced_as_its_model():
    version = "stability-ai/sdxl:" + "ab" * 32
    settings = load_settings(
        overrides={"image": {"fallback": [{"provider": "replicate", "model": version}]}}
    )
    services = build_services(settings)
    assert services.prices.image_spec(settings.image.fallback[0]) == (0.0046, True)


def test_auto_picks_the_first_provider_with_a_key(monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", "AIzaSy-from-env-123456")
    settings = load_settings()
    assert [s.label for s in build_services(settings).chain] == ["gemini:gemini-2.5-flash-image"]
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    assert build_services(load_settings()).chain[0].label == "openai:gpt-image-1.5"


def test_provider_forced_in_image_gets_that_providers_defaults():
    settings = load_settings(overrides={"image": {"provider": "replicate"}})
    assert (settings.image.model, settings.image.size) == ("black-forest-labs/flux-schnell", "auto")


def test_keys_from_the_environment_and_systemd_credentials(tmp_path, monkeypatch):
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "gemini_api_key").write_text("AIzaSy-cred-123456\n")
    (creds / "replicate_api_token").write_text("r8_cred_token_123\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    monkeypatch.setenv("REPLICATE_API_TOKEN", "r8_env_token_456")
    settings = load_settings()
    assert settings.gemini.api_key is not None
    assert settings.gemini.api_key.get_secret_value() == "AIzaSy-cred-123456"
    assert settings.replicate.api_key is not None
    assert settings.replicate.api_key.get_secret_value() == "r8_env_token_456"
    report = {s.provider: s for s in provider_report(settings, check=False)}
    assert report["gemini"].key_from == "credential gemini_api_key"
    assert report["replicate"].key_from == "REPLICATE_API_TOKEN"
    assert report["openai"].usable is False and "OPENAI_API_KEY" in report["openai"].note


def imagegen_config(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full = child_env()
    full["IMAGEGEN_CONFIG"] = str(REPO / "config/imagegen.default.toml")
    full.update(env)
    return subprocess.run(
        [sys.executable, "-m", "daemon", "config", *args],
        cwd=REPO,
        env=full,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_imagegen_config_shows_which_providers_are_usable(fake_api):
    env = {
        "OPENAI_API_KEY": fake_api.api_key,
        "IMAGEGEN_OPENAI__BASE_URL": fake_api.openai_base_url,
        "GEMINI_API_KEY": "AIzaSy-wrong-key-987654",
        "IMAGEGEN_GEMINI__BASE_URL": fake_api.gemini_base_url,
        "REPLICATE_API_TOKEN": fake_api.replicate_api_token,
        "IMAGEGEN_REPLICATE__BASE_URL": fake_api.replicate_base_url,
        "IMAGEGEN_IMAGE__FALLBACK": '[{"provider": "gemini"}]',
    }
    plain = imagegen_config(env=env)
    assert plain.returncode == 0, plain.stderr
    data = json.loads(plain.stdout.split("\n", 1)[1])
    providers = data["image_providers"]
    assert providers["openai"]["used_by"] == ["default"] and providers["openai"]["usable"]
    assert providers["gemini"]["key"] == "set, from GEMINI_API_KEY"
    assert providers["replicate"]["used_by"] == [] and providers["replicate"]["usable"]
    assert data["gemini"]["api_key"] == "<set, from GEMINI_API_KEY>"
    assert fake_api.count() == 0  # nothing asked without --check

    checked = imagegen_config("--check", env=env)
    providers = json.loads(checked.stdout.split("\n", 1)[1])["image_providers"]
    assert providers["openai"] == {
        "used_by": ["default"],
        "key": "set, from OPENAI_API_KEY",
        "usable": True,
        "note": "key accepted by the provider",
    }
    assert providers["gemini"]["usable"] is False
    assert providers["gemini"]["note"].startswith("key refused: gemini: HTTP 400")
    assert "GEMINI_API_KEY" in providers["gemini"]["note"]
    assert sorted(r.endpoint for r in fake_api.requests) == ["gemini_models", "models"]
    for secret in ("AIzaSy-wrong-key-987654", fake_api.api_key, fake_api.replicate_api_token):
        assert secret not in checked.stdout + checked.stderr


def test_the_unit_and_make_install_hand_over_every_key():
    unit = (REPO / "systemd/imagegen.service").read_text()
    makefile = (REPO / "Makefile").read_text()
    for name in ("openai_api_key", "anthropic_api_key", "gemini_api_key", "replicate_api_token"):
        assert re.search(rf"^LoadCredential={name}:/etc/imagegen/credentials/{name}$", unit, re.M)
        assert name in makefile
