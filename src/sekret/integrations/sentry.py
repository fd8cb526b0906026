"""Scrub secret values out of error-tracker events (Sentry, or any ``before_send`` hook).

Error trackers capture local variables of every frame (Sentry's
``include_local_variables`` is on by default), request data and
breadcrumbs; a frame inside your code or sekret's may hold a decrypted
value. ``before_send`` replaces every held value (the ``Redactor``'s: what
watched caches hold plus registered values) with ``***`` in every string of
the event: messages, exception values, frame ``vars``, breadcrumbs, extra,
contexts, tags, and dictionary keys::

    import sentry_sdk
    from sekret.integrations.sentry import before_send

    sentry_sdk.init(dsn=..., before_send=before_send)
    default_redactor().watch(secrets)  # hide what this client's cache holds

``make_before_send(redactor, then=...)`` builds one for another Redactor and
chains your own hook after it; ``scrub(payload)`` is the generic form for
any tracker whose hook receives a JSON-like payload (Rollbar's
``transform``, Bugsnag's ``on_error``...). No import of ``sentry_sdk``.

Limits: a value the tracker already cut (Sentry truncates strings at
``max_value_length``, 1,024 characters by default) is hidden only if the cut
part still holds a whole value; keep ``min_length`` of the Redactor in mind.

This module must never log, print or store a value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from sekret.integrations.redaction import MASK, Redactor, default_redactor

__all__ = ["before_send", "make_before_send", "scrub"]

E = TypeVar("E")
Hook = Callable[[Any, Any], Any]
_MAX_DEPTH = 64  # deeper than any tracker event; beyond it a node is replaced whole


def scrub(payload: E, redactor: Redactor | None = None) -> E:
    """``payload`` with every held value replaced by ``***`` in every string and key.

    Dicts and lists are changed in place (trackers hand over their own
    copy); tuples and sets are rebuilt; other objects are left as they are.
    """
    active = redactor or default_redactor()
    if not active.values():
        return payload
    return _scrub(payload, active.redact, 0)  # type: ignore[no-any-return]


def _scrub(node: Any, redact: Callable[[str], str], depth: int) -> Any:
    if isinstance(node, str):
        return redact(node)
    if depth > _MAX_DEPTH:
        return MASK if isinstance(node, Mapping | list | tuple | set) else node
    if isinstance(node, dict):
        for key in list(node):
            item = _scrub(node[key], redact, depth + 1)
            new_key = redact(key) if isinstance(key, str) else key
            if new_key is not key:
                del node[key]
            node[new_key] = item
        return node
    if isinstance(node, list):
        node[:] = [_scrub(item, redact, depth + 1) for item in node]
        return node
    if isinstance(node, tuple | set | frozenset):
        return type(node)(_scrub(item, redact, depth + 1) for item in node)
    if isinstance(node, bytes):
        text = node.decode("utf-8", "surrogateescape")
        hidden = redact(text)
        return node if hidden is text else hidden.encode("utf-8", "surrogateescape")
    return node


def make_before_send(redactor: Redactor | None = None, then: Hook | None = None) -> Hook:
    """A ``before_send(event, hint)`` scrubbing with ``redactor``, then calling ``then``."""

    def hook(event: Any, hint: Any) -> Any:
        scrubbed = scrub(event, redactor)
        return then(scrubbed, hint) if then is not None else scrubbed

    return hook


def before_send(event: E, hint: Any) -> E:
    """Sentry's ``before_send``/``before_send_transaction``: the event, values hidden."""
    return scrub(event)
