"""Which image providers the settings use and whether they are usable: the key is
there (and where from), and, when asked, the provider accepts it (the same free
request the first paid call is preceded by). For `imagegen config` and the daemon's
start-up, which logs a refused key loudly before any episode needs it."""

from __future__ import annotations

from dataclasses import dataclass, field

from config import secret_source
from config.loader import SECRET_SOURCES
from config.settings import Settings
from handlers.errors import AuthError
from handlers.run.services import chain_specs

PROVIDERS = ("openai", "gemini", "replicate")


@dataclass
class ProviderStatus:
    provider: str
    # Chains naming it: "default" ([image] + [[image.fallback]]) and visual types.
    used_by: list[str] = field(default_factory=list)
    key_from: str | None = None
    usable: bool = False
    note: str = ""

    def as_dict(self) -> dict[str, object]:
        return {
            "used_by": self.used_by,
            "key": f"set, from {self.key_from}" if self.key_from else None,
            "usable": self.usable,
            "note": self.note,
        }


def provider_report(settings: Settings, *, check: bool) -> list[ProviderStatus]:
    """One status per paid image provider; `check` asks each used one with a key."""
    default, chains = chain_specs(settings)
    statuses = []
    for provider in PROVIDERS:
        status = ProviderStatus(provider)
        for name, specs in [("default", default), *sorted(chains.items())]:
            if any(spec.provider == provider for spec in specs):
                status.used_by.append(name)
        env_name, credential = SECRET_SOURCES[provider]
        if getattr(settings, provider).api_key is None:
            status.note = f"no key: set {env_name} or the systemd credential {credential}"
        else:
            status.key_from = secret_source(provider) or "the settings"
            status.usable = True
            if not status.used_by:
                status.note = "no chain names it"
            elif check:
                status.usable, status.note = _ask(settings, provider)
            else:
                status.note = "key present, not checked (imagegen config --check asks)"
        statuses.append(status)
    return statuses


def _ask(settings: Settings, provider: str) -> tuple[bool, str]:
    """(usable, what the provider said) from its free key check."""
    try:
        answered = _probe(settings, provider)
    except AuthError as e:
        return False, f"key refused: {e}"
    except Exception as e:  # the check is advice: any other trouble is only reported
        return True, f"not confirmed: {type(e).__name__} (the first paid call checks again)"
    if answered:
        return True, "key accepted by the provider"
    return True, "not confirmed: the check got no clear answer (the first call checks again)"


def _probe(settings: Settings, provider: str) -> bool:
    # SDKs imported only for the providers asked about (about a second each).
    if provider == "gemini":
        from handlers.api.gemini import gemini_client
        from handlers.api.gemini import key_probe as gemini_probe

        return gemini_probe(gemini_client(settings.gemini))
    if provider == "replicate":
        from handlers.api.replicate import key_probe as replicate_probe
        from handlers.api.replicate import replicate_client

        return replicate_probe(replicate_client(settings.replicate))
    import openai

    from handlers.api.clients import openai_client
    from handlers.api.retry import clip

    try:
        openai_client(settings.openai).models.list()
    except openai.AuthenticationError as e:
        raise AuthError(
            f"openai: HTTP 401: {clip(str(e.message))}. Check the API key (OPENAI_API_KEY or the "
            "systemd credential openai_api_key)"
        ) from None
    except openai.APIError:
        return False
    return True
