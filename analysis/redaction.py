"""Secrets out of files, MLflow and printed lines: the one redaction helper every path uses.

Two kinds of secret: the config fields a study lists under ``secrets:`` (a key name, at any level
of nesting) and credentials embedded in a URI (``http://user:password@host``,
``postgresql://user:password@host/db``, ``...?password=...``). What is written to a file
(``<study>/config.yaml``, a checkpoint's ``meta.json``, a tracking buffer) or printed gets
:func:`redact` — the field's value, or the URI's password, becomes :data:`REDACTED`; what is logged
to MLflow gets :func:`without_secrets` — the field is left out, URIs in the rest are masked. A
resumed study finds the redacted fields with :func:`redacted_paths` and asks for them again.

Example::

    >>> redact({"trial": {"data_root": "/s3/key"}, "tracking_uri": "http://me:pw@host:5000"}, ["data_root"])
    {'trial': {'data_root': '***'}, 'tracking_uri': 'http://me:***@host:5000'}
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

REDACTED = "***"
#: ``scheme://user:password@``: the password (no ``/``, ``@`` or blank: a URI's userinfo is escaped).
_USERINFO = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*://[^/@\s:]*):(?P<secret>[^/@\s]+)@")
#: A credential passed as a query parameter (``?password=``, ``&token=``, ...).
_QUERY = re.compile(r"(?P<head>[?&;](?:password|passwd|pwd|token|access_token|secret|api_key|sig)=)"
                    r"(?P<secret>[^&#\s]+)", re.IGNORECASE)


def redact_uri(text: str) -> str:
    """``text`` with the password of every URI in it (userinfo or query parameter) masked."""
    if not isinstance(text, str):
        return text
    text = _USERINFO.sub(lambda m: f"{m['head']}:{REDACTED}@", text)
    return _QUERY.sub(lambda m: f"{m['head']}{REDACTED}", text)


def redact(value: Any, secrets: Iterable[str] = ()) -> Any:
    """A copy of ``value`` (mappings, lists, strings) with the fields named in ``secrets`` set to
    :data:`REDACTED` (unless unset) and URI credentials masked: what may be written or printed."""
    hidden = set(secrets)
    if isinstance(value, Mapping):
        return {k: (REDACTED if k in hidden and v is not None else redact(v, hidden)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact(v, hidden) for v in value)
    return redact_uri(value) if isinstance(value, str) else value


def without_secrets(values: Mapping[str, Any], secrets: Iterable[str]) -> dict[str, Any]:
    """``values`` without the keys named in ``secrets``, at every level of nesting, and with URI
    credentials masked: what may be logged as params or tags of a study or a trial."""
    hidden = set(secrets)
    return {k: without_secrets(v, hidden) if isinstance(v, Mapping) else redact(v)
            for k, v in values.items() if k not in hidden}


def redacted_paths(value: Any, prefix: str = "") -> list[str]:
    """Dotted paths of the values :func:`redact` masked (``trial.data_root``): what a resumed
    study must be given again."""
    if isinstance(value, Mapping):
        return [p for k, v in value.items() for p in redacted_paths(v, f"{prefix}{k}.")]
    if isinstance(value, str) and REDACTED in value and (
            value == REDACTED or redact_uri(value.replace(REDACTED, "x")) == value):
        return [prefix.rstrip(".")]
    return []
