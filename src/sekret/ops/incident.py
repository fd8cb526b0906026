"""Respond to a leaked secret: rotate now, revoke the old value at once, log, checklist.

``respond(secrets, name, rotator)``:

1. With a rotator, runs the four rotation steps now (resuming a pending
   rotation). Without one (a secret rotated by hand, such as a vendor API key
   sekret cannot mint), it rotates nothing, says so (``outcome="manual"``)
   and the checklist starts with the manual procedure: sekret never pretends
   a compromised value was replaced.
2. Revokes ``previous`` at once instead of after a grace period: the
   rotator's ``revoke(old)`` when it has one (the postgres rotator disables the
   old password at the database), then the ``previous`` stage is removed so
   sekret stops serving the old value (``verify_api_key`` rejects it).
3. Drops the client's cached value; ``sekret run --watch`` re-reads from the
   backend on its next check and restarts the command with the new value;
   other processes pick it up when their cache entry expires (``cache_ttl``).
4. Records a ``secret.incident`` audit event (outcome, versions, leak time;
   never a value) through the client's audit log.
5. Returns the checklist of what sekret cannot do, with the ``sekret audit
   show`` command for reads since the leak filled in.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from sekret._values import CURRENT, PREVIOUS, Secret
from sekret.exceptions import SekretError, VersionNotFound
from sekret.ops._audit import record

if TYPE_CHECKING:
    from sekret._secrets import Secrets
    from sekret.rotation.engine import Rotator

__all__ = ["IncidentReport", "checklist", "respond", "revoke_previous"]

Revoked = Literal["revoked", "unsupported", "failed", "none"]


@dataclass(frozen=True, slots=True)
class IncidentReport:
    """What ``respond`` did for one secret (names, versions, times; no value)."""

    name: str
    full_name: str
    outcome: Literal["rotated", "manual"]
    version: str | None
    revoked_version: str | None
    at_source: Revoked
    since: datetime | None
    steps: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "full_name": self.full_name,
            "outcome": self.outcome,
            "version": self.version,
            "revoked_version": self.revoked_version,
            "revoked_at_source": self.at_source,
            "since": self.since.isoformat() if self.since else None,
            "checklist": list(self.steps),
        }


def revoke_previous(secrets: Secrets, name: str, rotator: Rotator | None) -> tuple[str, Revoked]:
    """Revoke ``previous`` at its source (``rotator.revoke(old)``) and drop the stage.

    Returns (the revoked version, what happened at the source). The stage is
    removed even when the source refused, so sekret stops serving the old
    value; the source's error is raised after that.
    """
    old: Secret = secrets.backend.read(secrets.full_name(name), stage=PREVIOUS)
    revoke = getattr(rotator, "revoke", None) if rotator is not None else None
    at_source: Revoked = "unsupported" if revoke is None else "revoked"
    failure: SekretError | None = None
    if revoke is not None:
        try:
            revoke(old)
        except SekretError as exc:
            at_source, failure = "failed", exc
    secrets.revoke_previous(name)
    if failure is not None:
        raise failure
    return old.version, at_source


def _audit_files(specs: Sequence[object]) -> list[str]:
    files = []
    for spec in specs:
        url = spec if isinstance(spec, str) else None
        if isinstance(spec, dict) and spec.get("sink") in ("file", "jsonl"):
            files.append(str(spec.get("path", "AUDIT.jsonl")))
            continue
        if url and url.split("://", 1)[0] in ("file", "jsonl"):
            files.append(url.split("://", 1)[1].split("?", 1)[0])
    return files


def checklist(
    report_name: str,
    full_name: str,
    *,
    outcome: str,
    at_source: Revoked,
    since: datetime | None,
    audit_specs: Sequence[object] = (),
) -> tuple[str, ...]:
    """The steps sekret cannot take for you, in order, with commands filled in."""
    steps = []
    if outcome == "manual":
        steps += [
            f"MANUAL ROTATION NEEDED: {full_name} was NOT rotated (no rotator is configured).",
            "  1. create a new value at the vendor or system that issued it;",
            f"  2. stage it: sekret put {report_name} --stage pending < new-value-file"
            " (never as an argument);",
            f"  3. deploy, then make it current: sekret promote {report_name};",
            f"  4. revoke the leaked one: sekret revoke-previous {report_name};",
        ]
    if at_source != "revoked":
        steps.append(
            "revoke the old value at the vendor or system that accepts it"
            " (sekret removed it from its stages only)"
        )
    steps.append(
        "purge it from git history if it was committed (git filter-repo --replace-text FILE,"
        " then force-push and have every clone re-cloned); CI logs and caches too"
    )
    files = " ".join(_audit_files(audit_specs)) or "AUDIT.jsonl"
    when = f" --since {since.replace(microsecond=0).isoformat()}" if since else " --since 30d"
    steps.append(
        f"check who read it since the leak: sekret audit show {files} --secret {full_name}"
        f" --action 'secret.read*'{when}"
    )
    steps.append(
        "look for copies in other environments: sekret diff ENV production"
        " (the same value elsewhere is leaked too)"
    )
    return tuple(steps)


def respond(
    secrets: Secrets,
    name: str,
    rotator: Rotator | None,
    *,
    since: datetime | None = None,
    audit_specs: Sequence[object] = (),
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> IncidentReport:
    """Handle a leak of ``name``; see the module docstring. Writes need an admin client.

    ``since``: when the leak happened (default: when the leaked version was
    created), for the audit-trail step of the checklist.
    """
    from sekret.rotation.engine import RotationEngine

    full = secrets.full_name(name)
    secrets._writable("incident")
    # The version in use now is the one presumed leaked; read past any expiry check
    # (an expired secret can leak too).
    leaked = secrets.backend.read(full, stage=CURRENT)
    since = since or leaked.created  # unknown leak time: every read of that version
    fields: dict[str, Any] = {"since": since.isoformat() if since else None}
    outcome: Literal["rotated", "manual"] = "manual"
    version: str | None = None
    revoked: str | None = None
    at_source: Revoked = "none"
    try:
        if rotator is None:
            version = leaked.version
        else:
            result = RotationEngine(secrets, clock=clock).rotate(name, rotator)
            outcome, version = "rotated", result.version
            with contextlib.suppress(VersionNotFound):  # no previous: nothing to revoke
                revoked, at_source = revoke_previous(secrets, name, rotator)
        secrets.invalidate(name)
    except SekretError as exc:
        record(secrets, "secret.incident", full, error=exc, **fields)
        raise
    record(
        secrets,
        "secret.incident",
        full,
        version=version,
        incident=outcome,
        revoked_version=revoked,
        revoked_at_source=at_source,
        **fields,
    )
    steps = checklist(
        name, full, outcome=outcome, at_source=at_source, since=since, audit_specs=audit_specs
    )
    return IncidentReport(name, full, outcome, version, revoked, at_source, since, steps)
