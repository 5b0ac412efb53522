"""Errors of the handler. Each message says which file, which field and what to do."""

from __future__ import annotations


class ImagegenError(Exception):
    """Base class: an error whose message is fit to show an operator as is."""


class InputError(ImagegenError):
    """chapters.json (or another input file) is unusable; nothing was written."""


class ConfinementError(ImagegenError):
    """A path would leave the outputs root."""


class LockBusy(ImagegenError):
    """Another run holds the episode lock."""


class ProviderError(ImagegenError):
    """An image or prompt provider failed for one chapter."""


class ContentRejected(ProviderError):
    """The provider's safety system rejected the prompt; not retried."""


class AuthError(ImagegenError):
    """Bad or missing credentials: the episode stops at once, no further calls."""


class KeyRefused(AuthError):
    """The key check refused the key before this call's request was sent."""


class ConfigurationError(ImagegenError):
    """A setting is wrong (e.g. a model the server does not have)."""


class Stopped(ImagegenError):
    """Shutdown came between attempts of a call: no further paid call was made."""


class UsageError(ImagegenError):
    """The command names something that does not exist (a chapter, a candidate)."""
