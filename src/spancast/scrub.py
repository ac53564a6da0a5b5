"""Secrets never echo: every excerpt of a receiver's answer is scrubbed of the destination's credentials.

Receivers and proxies repeat requests in their error answers (WAF pages, debugging proxies, APIs that
quote the key they refused), and spancast keeps excerpts of those answers: in log lines,
``stats()["destinations"][*]["last_error"]``, ``spancast test`` and ``spancast send``. :func:`scrub`
is the one function every such excerpt goes through before it is kept, and ``spancast preview`` runs
every string of the body it shows through it too (PostHog's key travels in the body).

The secrets of a destination (:func:`secrets_of`): every setting typed ``Secret`` (and inside one that is a JSON object, the values
of its credential-named keys, such as a service-account key's ``private_key``);
every value of the user's ``headers``; the credential headers of the request that was sent (by name:
the destination's ``secret_headers`` and any name holding auth, key, token, secret, signature,
password or cookie), whole, without their scheme word (``Basic``, ``Bearer``, ...: the base64 of
``user:password`` for Basic) and the value of each ``name=value`` in them (``sentry_key=...``, SigV4's
``Credential=...`` and ``Signature=...``); a password in a URL setting's ``user:password@``; and the values of credential-like
query parameters of the request's URL. Each is matched raw, URL-encoded (``quote`` and
``quote_plus``), JSON-escaped and base64-encoded, in any letter case, and replaced by ``***``; an
excerpt cut short in the middle of a secret loses that secret's start too. Values shorter than
``MIN_SECRET_CHARS`` are not secrets anyone could use, and masking them would mangle every excerpt.
"""

from __future__ import annotations

import base64
import json
import re
import weakref
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus, unquote, urlsplit

__all__ = ["scrub", "secrets_of", "scrub_text", "Scrubber", "MASK", "MIN_SECRET_CHARS", "SECRET_WORDS", "QUERY_WORDS"]

MASK = "***"
MIN_SECRET_CHARS = 4
#: Header names that carry credentials (case-insensitive substrings); query parameters add QUERY_WORDS.
SECRET_WORDS = ("auth", "key", "token", "secret", "signature", "password", "cookie")
QUERY_WORDS = SECRET_WORDS + ("sig", "credential")
_PAIR_VALUE = re.compile(r"=([^\s,;]+)")  # the value of each name=value in a header (sentry_key=, Signature=)
_TOKEN_CHARS = 12  # a header value's parts this long or longer are secrets of their own
_PARTIAL_CHARS = 6
_URL_SETTINGS = ("url", "endpoint", "base_url", "host", "otlp_endpoint")
_cache: weakref.WeakKeyDictionary[Any, tuple[str, ...]] = weakref.WeakKeyDictionary()


def _secret_name(name: str, extra: Iterable[str] = (), words: tuple[str, ...] = SECRET_WORDS) -> bool:
    low = name.lower()
    return low in extra or any(word in low for word in words)


def _header_secrets(name: str, value: str, secret_names: Iterable[str]) -> list[str]:
    if not isinstance(value, str) or not _secret_name(name, secret_names):
        return []
    out = [value]
    scheme, sep, rest = value.partition(" ")
    if sep:
        out.append(rest)
    out += [part for part in _PAIR_VALUE.findall(value) if len(part) >= _TOKEN_CHARS]
    return out


def _url_secrets(url: Any) -> list[str]:
    if not isinstance(url, str) or not url:
        return []
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return []
    out = [unquote(password)] if password else []
    for item in parts.query.split("&"):
        name, sep, value = item.partition("=")
        if sep and value and _secret_name(name, words=QUERY_WORDS):
            out += [value, unquote(value)]
    return out


def _from_settings(destination: Any) -> list[str]:
    from .destinations.base import Secret  # the settings type that marks credentials

    settings = getattr(destination, "settings", None)
    out: list[str] = []
    if settings is None:
        return out
    for name in getattr(settings, "__struct_fields__", ()):
        value = getattr(settings, name)
        if isinstance(value, Secret):
            out.append(str(value))
            if value.lstrip().startswith("{"):  # a key file's JSON: its private key alone is a secret too
                try:
                    doc = json.loads(value)
                except ValueError:
                    doc = {}
                if isinstance(doc, dict):
                    out += [v for k, v in doc.items() if isinstance(v, str) and _secret_name(str(k))]
        elif name in _URL_SETTINGS:
            out += _url_secrets(value)
    headers = getattr(settings, "headers", None) or {}
    out += [v for v in headers.values() if isinstance(v, str)]
    out += destination.secret_values()  # what only the destination knows (Sentry's DSN key)
    return out


def secrets_of(destination: Any, headers: Mapping[str, str] | None = None, url: str | None = None) -> tuple[str, ...]:
    """Every secret of the destination, and of the request it sent (headers, url) when given."""
    cached = _cache.get(destination) if destination is not None else None
    if cached is None:
        cached = tuple(_from_settings(destination)) if destination is not None else ()
        if destination is not None:
            try:
                _cache[destination] = cached
            except TypeError:  # not weak-referenceable: computed each time
                pass
    found = list(cached)
    if headers:
        names = set(destination.secret_headers if destination is not None else ()) | {
            n.lower() for n in (getattr(getattr(destination, "settings", None), "headers", None) or {})}
        for name, value in headers.items():
            found += _header_secrets(name, value, names)
    found += _url_secrets(url)
    return tuple(found)


def _forms(secret: str) -> set[str]:
    forms = {secret, quote(secret, safe=""), quote(secret), quote_plus(secret), json.dumps(secret)[1:-1]}
    raw = secret.encode("utf-8", "surrogatepass")
    forms.add(base64.b64encode(raw).decode("ascii"))
    forms.add(base64.urlsafe_b64encode(raw).decode("ascii").rstrip("="))
    return {f for f in forms if len(f) >= MIN_SECRET_CHARS}


class Scrubber:
    """Secrets compiled once into one pattern; calling it scrubs a text (see the module docstring)."""

    __slots__ = ("forms", "pattern", "partial")

    def __init__(self, secrets: Iterable[str], partial: bool = True) -> None:
        """partial: the text may be an excerpt cut short, so a secret's start at its very end goes too
        (not for whole strings, such as a preview's: "content" would go as the start of "content-type")."""
        self.partial = partial
        forms: set[str] = set()
        for secret in secrets:
            if isinstance(secret, str) and len(secret) >= MIN_SECRET_CHARS:
                forms |= _forms(secret)
        self.forms = sorted(forms, key=len, reverse=True)  # the longest first: a secret inside another goes with it
        self.pattern = re.compile("|".join(map(re.escape, self.forms)), re.IGNORECASE) if forms else None

    def __call__(self, text: str) -> str:
        if not text or self.pattern is None:
            return text
        text = self.pattern.sub(MASK, text)
        if not self.partial:
            return text
        # An excerpt cut in the middle of a secret still shows its start: that goes too (from 6 characters
        # on; shorter, the tail of any text would match some secret's start).
        low = text.lower()
        for form in self.forms:
            for k in range(min(len(form) - 1, len(text)), _PARTIAL_CHARS - 1, -1):
                if low.endswith(form[:k].lower()):
                    return text[:-k] + MASK
        return text

    def __repr__(self) -> str:  # how many, never which
        return f"<Scrubber forms={len(self.forms)}>"


def scrub_text(text: str, secrets: Iterable[str]) -> str:
    """text with every form of every secret replaced by ``***`` (see the module docstring)."""
    return Scrubber(secrets)(text)


def scrub(text: str, destination: Any, headers: Mapping[str, str] | None = None, url: str | None = None) -> str:
    """text (an excerpt of what a receiver said, an error naming it) without any secret of the destination
    or of the request it sent: the one function every excerpt spancast keeps, logs or prints goes through."""
    return scrub_text(text, secrets_of(destination, headers, url))
