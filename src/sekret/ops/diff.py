"""Compare two environments of one app: drift, rotation and reused values.

``compare_environments(a, b)`` reads both environments' current secrets and
reports, as ``Finding`` rows:

=============  ==============================================================
``missing``    a declared secret (manifest) is not stored in one environment;
               without a manifest: stored in one environment, not the other
``extra``      stored in an environment but not declared in the manifest
``kind``       the value's kind (text, bytes, json), its JSON fields or its
               ``kind`` metadata differ between the two environments
``rotation``   rotated in one environment but never in the other, or overdue
               in one and on time in the other (manifest schedule)
``reuse``      the SAME value in both environments (a production key used in
               development), whole or as a JSON string field
``unreadable`` a secret could not be read (its error code, never a value)
=============  ==============================================================

Reuse is found by comparing keyed hashes: HMAC-SHA256 under a random key made
for this one comparison, held in memory and dropped at the end. Neither the
key, the hashes nor the values are ever printed, returned, logged or stored.
Values shorter than ``MIN_COMPARED_LENGTH`` bytes are not compared (short
values such as ``5432`` or ``true`` match by chance).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets as _random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, Literal

from sekret._values import CURRENT, Secret
from sekret.exceptions import SecretNotFound, SekretError
from sekret.manifest import DEFAULT_ROTATION_DAYS

if TYPE_CHECKING:
    from sekret._secrets import Secrets
    from sekret.manifest import SecretSpec

__all__ = [
    "MIN_COMPARED_LENGTH",
    "DiffReport",
    "Finding",
    "compare_environments",
    "find_reuse",
]

MIN_COMPARED_LENGTH: Final = 8
"""Values (and JSON string fields) shorter than this many bytes are not compared."""

Check = Literal["missing", "extra", "kind", "rotation", "reuse", "unreadable"]
CHECK_ORDER: Final[tuple[Check, ...]] = (
    "missing",
    "extra",
    "kind",
    "rotation",
    "reuse",
    "unreadable",
)


@dataclass(frozen=True, slots=True)
class Finding:
    """One difference; ``environment`` is where it was seen (None: both)."""

    check: Check
    name: str
    environment: str | None
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "name": self.name,
            "environment": self.environment,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class DiffReport:
    """The findings of one comparison of environments ``a`` and ``b``."""

    a: str
    b: str
    compared: int
    findings: tuple[Finding, ...] = field(default=())

    @property
    def ok(self) -> bool:
        """True when nothing differs and no value is shared."""
        return not self.findings

    def as_dict(self) -> dict[str, Any]:
        return {
            "environments": [self.a, self.b],
            "ok": self.ok,
            "compared": self.compared,
            "findings": [f.as_dict() for f in self.findings],
        }


@dataclass(slots=True)
class _Inventory:
    """One environment's stored secrets (short name -> current version or error)."""

    environment: str
    client: Secrets
    reads: dict[str, Secret | SekretError]

    @classmethod
    def of(cls, client: Secrets) -> _Inventory:
        """Every stored secret's current version, read from the backend itself (an
        expired value is compared too, whatever the client's ``strict_expiry``)."""
        fulls = {client.full_name(info.name): info.name for info in client.list()}
        got = client.backend.read_many(sorted(fulls)) if fulls else {}
        reads = {fulls[full]: result for full, result in got.items()}
        return cls(client.namespace.environment, client, dict(sorted(reads.items())))

    def secret(self, name: str) -> Secret | None:
        got = self.reads.get(name)
        return got if isinstance(got, Secret) else None


# -- reuse --------------------------------------------------------------------


def _pieces(secret: Secret) -> Iterable[tuple[str | None, bytes]]:
    """The whole value, then each JSON string field (field name, bytes)."""
    yield None, secret.value.bytes()
    if secret.value.kind != "json":
        return
    try:
        document = secret.value.json()
    except SekretError:
        return
    if isinstance(document, dict):
        for key, item in document.items():
            if isinstance(item, str):
                yield str(key), item.encode("utf-8")


def _fingerprints(
    inventory: _Inventory, key: bytes, min_length: int
) -> dict[bytes, list[tuple[str, str | None]]]:
    out: dict[bytes, list[tuple[str, str | None]]] = {}
    for name in inventory.reads:
        secret = inventory.secret(name)
        if secret is None:
            continue
        for field_name, data in _pieces(secret):
            if len(data) < min_length:
                continue
            digest = hmac.new(key, data, hashlib.sha256).digest()
            out.setdefault(digest, []).append((name, field_name))
    return out


def _label(name: str, field_name: str | None) -> str:
    return name if field_name is None else f"{name}#{field_name}"


def _reuse(a: _Inventory, b: _Inventory, min_length: int) -> list[Finding]:
    key = _random.token_bytes(32)  # this comparison only; never leaves this function
    try:
        left = _fingerprints(a, key, min_length)
        right = _fingerprints(b, key, min_length)
    finally:
        del key
    pairs: set[tuple[str, str | None, str, str | None]] = set()
    for digest, holders in left.items():
        for name_b, field_b in right.get(digest, ()):
            for name_a, field_a in holders:
                pairs.add((name_a, field_a, name_b, field_b))
    whole = {(na, nb) for na, fa, nb, fb in pairs if fa is None and fb is None}
    findings = []
    for name_a, field_a, name_b, field_b in sorted(pairs, key=lambda p: tuple(map(str, p))):
        if (field_a is not None or field_b is not None) and (name_a, name_b) in whole:
            continue  # the whole value is shared: one finding says it
        findings.append(
            Finding(
                "reuse",
                name_a,
                None,
                f"{a.environment}:{_label(name_a, field_a)} holds the same value as"
                f" {b.environment}:{_label(name_b, field_b)}",
            )
        )
    return findings


def find_reuse(a: Secrets, b: Secrets, *, min_length: int = MIN_COMPARED_LENGTH) -> list[Finding]:
    """Values stored in both ``a`` and ``b`` (any names), by keyed hash; no value leaves."""
    return _reuse(_Inventory.of(a), _Inventory.of(b), min_length)


# -- shape and rotation -------------------------------------------------------


def _shape(secret: Secret) -> str:
    kind = secret.value.kind
    declared = secret.metadata.get("kind")
    text = kind if not declared else f"{kind} ({declared})"
    if kind == "json":
        try:
            document = secret.value.json()
        except SekretError:
            return text
        if isinstance(document, dict):
            return f"{text} fields {','.join(sorted(map(str, document)))}"
    return text


@dataclass(frozen=True, slots=True)
class _History:
    versions: int
    last_rotated: datetime | None


def _history(client: Secrets, name: str) -> _History | None:
    try:
        infos = client.versions(name)
    except SecretNotFound:
        return None
    current = next((i for i in infos if CURRENT in i.stages), None)
    return _History(len(infos), current.created if current else None)


def _day(when: datetime | None) -> str:
    return f"{when:%Y-%m-%d}" if when else "unknown"


def _rotation(
    a: _Inventory,
    b: _Inventory,
    name: str,
    spec: SecretSpec | None,
    now: datetime,
) -> Finding | None:
    ha, hb = _history(a.client, name), _history(b.client, name)
    if ha is None or hb is None:
        return None
    days = None
    if spec is not None:
        days = spec.rotation_days or DEFAULT_ROTATION_DAYS.get(spec.kind)
    if days and ha.last_rotated and hb.last_rotated:
        due_a = (now - ha.last_rotated).days >= days
        due_b = (now - hb.last_rotated).days >= days
        if due_a != due_b:
            late, ok = (a, b) if due_a else (b, a)
            late_h, ok_h = (ha, hb) if due_a else (hb, ha)
            return Finding(
                "rotation",
                name,
                late.environment,
                f"overdue in {late.environment} (last rotated {_day(late_h.last_rotated)},"
                f" every {days}d), on time in {ok.environment}"
                f" (last rotated {_day(ok_h.last_rotated)})",
            )
    if (ha.versions > 1) != (hb.versions > 1):
        never, done = (a, b) if hb.versions > 1 else (b, a)
        done_h = hb if hb.versions > 1 else ha
        return Finding(
            "rotation",
            name,
            never.environment,
            f"never rotated in {never.environment}; rotated in {done.environment}"
            f" (last {_day(done_h.last_rotated)})",
        )
    return None


# -- the comparison -----------------------------------------------------------


def compare_environments(
    a: Secrets,
    b: Secrets,
    *,
    declared: Mapping[str, SecretSpec] | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    min_length: int = MIN_COMPARED_LENGTH,
) -> DiffReport:
    """Compare environment ``a`` with ``b`` (two clients of the same app).

    ``declared``: the manifest's secrets (``Manifest.secrets``); without it,
    a secret stored in one environment and not the other is ``missing``.
    ``now`` is the clock for rotation schedules.
    """
    left, right = _Inventory.of(a), _Inventory.of(b)
    at = now()
    findings: list[Finding] = []
    sides = (left, right)
    for side in sides:
        for name, got in side.reads.items():
            if isinstance(got, SekretError):
                findings.append(Finding("unreadable", name, side.environment, got.code))
    if declared is not None:
        for side in sides:
            findings += [
                Finding(
                    "missing", n, side.environment, f"declared but not stored in {side.environment}"
                )
                for n in sorted(declared)
                if n not in side.reads
            ]
            findings += [
                Finding(
                    "extra", n, side.environment, f"stored in {side.environment} but not declared"
                )
                for n in sorted(side.reads)
                if n not in declared
            ]
    else:
        for side, other in (sides, sides[::-1]):
            findings += [
                Finding(
                    "missing",
                    n,
                    other.environment,
                    f"stored in {side.environment}, not in {other.environment}",
                )
                for n in sorted(side.reads)
                if n not in other.reads
            ]
    both = sorted(set(left.reads) & set(right.reads))
    for name in both:
        sa, sb = left.secret(name), right.secret(name)
        if sa is not None and sb is not None and _shape(sa) != _shape(sb):
            findings.append(
                Finding(
                    "kind",
                    name,
                    None,
                    f"{left.environment}: {_shape(sa)}; {right.environment}: {_shape(sb)}",
                )
            )
        spec = declared.get(name) if declared is not None else None
        rotated = _rotation(left, right, name, spec, at)
        if rotated is not None:
            findings.append(rotated)
    findings += _reuse(left, right, min_length)
    findings.sort(key=lambda f: (CHECK_ORDER.index(f.check), f.name, f.environment or ""))
    return DiffReport(
        left.environment,
        right.environment,
        len(set(left.reads) | set(right.reads)),
        tuple(findings),
    )
