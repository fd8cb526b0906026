"""The stage rule of native-first backends without movable labels (Azure, Google).

On these services every native reader takes the latest version, so sekret's
``current`` is the latest version, ``previous`` is derived (the version just
before it, unless revoked), and every other stage (``pending``, rotation
locks) is a label kept in a companion secret that native readers never read.
``Stages`` answers "which version holds a stage" and "which stages does a
version hold" from those three facts, the same way for both backends (and
for Vault/OpenBao, whose ``View`` derives the same three facts from KV v2).
``check_write``, ``tls_failure`` and ``no_version`` are checks and error
helpers they share (AWS uses ``no_version`` too).

This module must never do I/O, import an SDK, or hold a value.
"""

from __future__ import annotations

import ssl
from collections.abc import Collection, Mapping

from sekret._values import CURRENT, PREVIOUS
from sekret.exceptions import InvalidValue, UnsupportedOperation, VersionNotFound

__all__ = ["PENDING_MARK", "Stages", "check_write", "no_version", "tls_failure"]

PENDING_MARK = "p"
"""Prefix of the sekret version id of a companion version (``p<service id>``)."""


class Stages:
    """``current`` and ``previous`` (derived) plus the companion's labels."""

    __slots__ = ("current", "labels", "previous")

    def __init__(self, current: str | None, previous: str | None, labels: Mapping[str, str]):
        self.current = current
        self.previous = previous
        self.labels = dict(labels)

    def holder(self, stage: str) -> str | None:
        """The version holding ``stage`` (None: no version does)."""
        if stage == CURRENT:
            return self.current
        if stage == PREVIOUS:
            return self.previous
        return self.labels.get(stage)

    def of(self, version: str) -> frozenset[str]:
        """Every stage ``version`` holds."""
        out = {s for s, v in self.labels.items() if v == version}
        if version == self.current:
            out.add(CURRENT)
        if version == self.previous:
            out.add(PREVIOUS)
        return frozenset(out)

    def pick(self, name: str, version: str | None, stage: str | None, *, backend: str) -> str:
        """The version a read of ``version`` and/or ``stage`` (one at least) asks for.

        ``VersionNotFound`` when no version holds ``stage``, or ``version`` does not.
        """
        if version is None:
            assert stage is not None
            held = self.holder(stage)
            if held is None:
                raise no_version(name, None, stage, backend=backend)
            return held
        if stage is not None and self.holder(stage) != version:
            raise no_version(name, version, stage, backend=backend)
        return version


def check_write(
    name: str, stages: Collection[str], expected_version: str | None, *, backend: str, why: str
) -> None:
    """What these backends refuse before any request: a CAS write, or writing ``previous``.

    ``why`` says why the service cannot compare-and-set a new version.
    """
    if expected_version is not None:
        raise UnsupportedOperation(
            f"backend {backend} cannot compare-and-set a new version: {why}"
            " (the backend does not declare CAS)",
            backend=backend,
        )
    if PREVIOUS in stages:
        raise InvalidValue(
            "previous is always the version before current here; it cannot be written",
            name=name,
            backend=backend,
        )


def no_version(
    name: str, version: str | None, stage: str | None = None, *, backend: str
) -> VersionNotFound:
    """The VersionNotFound for a missing version id or an unheld stage."""
    which = f"version {version!r}" if version else "a version"
    return VersionNotFound(
        f"secret {name!r} has no {which}" + (f" in stage {stage!r}" if stage else ""),
        name=name,
        version=version,
        backend=backend,
    )


def tls_failure(exc: BaseException) -> bool:
    """Whether an SDK error was caused by a TLS handshake or certificate failure."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, ssl.SSLError) or "CERTIFICATE_VERIFY_FAILED" in str(cur):
            return True
        inner = getattr(cur, "inner_exception", None)  # azure-core wraps the transport's error
        cur = (
            (inner if isinstance(inner, BaseException) else None)
            or cur.__cause__
            or cur.__context__
        )
    return False
