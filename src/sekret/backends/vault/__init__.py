"""``vault+https://host:8200/<kv-mount>``: HashiCorp Vault and OpenBao, KV v2, via ``hvac``.

Layout on the server (choices written down here and in docs/backends/vault.md):

* A full name ``app/env/name`` is the KV v2 path ``<mount>/data/app/env/name``;
  versions are Vault's version numbers, as strings.
* Each version's data is a small envelope::

      {"sekret": 1, "value": "<text or base64>", "encoding": "utf-8"|"base64",
       "content_type": "...", "token": "<idempotency token>", "metadata": {...}}

  A path written by something else (``vault kv put``) has no envelope: it
  reads back as a JSON value of its key/value pairs, with ``current`` = latest.
* Stages, soft delete and the format marker live in the secret's
  ``custom_metadata``: ``sekret.stage.<label> = <version>``,
  ``sekret.purge_at = <ISO time>``, ``sekret.format = 1``. Every change to it
  is written with OpenBao's metadata check-and-set (``metadata_cas``), so a
  stage move is atomic; data writes use the data ``cas`` option. Readers
  resolve ``current`` through that map, never through "latest" (one request
  when current is the latest version, two when a pending version is newer).
* Soft delete only marks the metadata (the data stays until the window ends);
  ``destroy`` (and a delete whose window has passed, at the next admin call) is
  the real metadata delete. Idempotency tokens are found by scanning the live
  versions' envelopes, newest first.

Least privilege: the client is read-only unless built with ``admin=True``;
a read-only client declares READ|VERSIONS|STAGES|LIST and refuses every
change with ``UnsupportedOperation`` before any request.

Logins, token renewal, HA failover, throttling and the mapping of HTTP
answers to sekret errors live in ``_vault_auth`` (``VaultConnection``);
``hvac`` and ``requests`` exceptions never reach the caller. This module must
never put a value, token or secret_id into a repr, log line or exception
message.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import re
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlsplit

from sekret._names import validate_name
from sekret._values import (
    CURRENT,
    Page,
    Secret,
    SecretInfo,
    SecretValue,
    VersionInfo,
    validate_stage,
)
from sekret.backends.base import (
    ABSENT,
    DEFAULT_RECOVERY_DAYS,
    Backend,
    Capability,
    check_expected_version,
    check_stage_holder,
    move_label,
    require,
)
from sekret.backends.vault._auth import AuthMethod, VaultConnection, auth_from_options
from sekret.exceptions import (
    ConfigurationError,
    Conflict,
    IntegrityError,
    InvalidValue,
    SecretDeleted,
    SecretNotFound,
    SekretError,
    UnsupportedOperation,
    VersionNotFound,
)

__all__ = ["VaultBackend"]

FORMAT_KEY = "sekret.format"
STAGE_KEY = "sekret.stage."
PURGE_KEY = "sekret.purge_at"
DEFAULT_ADDR = "http://127.0.0.1:8200"
READ_ONLY = Capability.READ | Capability.VERSIONS | Capability.STAGES | Capability.LIST
_CREDENTIAL_OPTIONS = ("token", "secret_id", "jwt", "password")
_MOUNT = re.compile(r"[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*\Z")


def utcnow() -> datetime:
    return datetime.now(UTC)


def _parse_time(text: object) -> datetime | None:
    """Vault's RFC 3339 times carry nanoseconds; Python takes microseconds."""
    if not isinstance(text, str) or not text:
        return None
    m = re.match(r"(.*?T\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)\Z", text)
    if m is None:
        return None
    frac = (m.group(2) or "")[:7]
    zone = "+00:00" if m.group(3) == "Z" else m.group(3)
    return datetime.fromisoformat(m.group(1) + frac + zone)


@dataclass(frozen=True, slots=True)
class _Meta:
    """A secret's KV v2 metadata: the stage map, deletion mark and live versions."""

    data_cas: int
    meta_cas: int
    custom: Mapping[str, str]
    versions: Mapping[str, Mapping[str, Any]]
    created: datetime | None
    updated: datetime | None

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> _Meta:
        return cls(
            int(data.get("current_version") or 0),
            int(data.get("current_metadata_version") or 0),
            dict(data.get("custom_metadata") or {}),
            dict(data.get("versions") or {}),
            _parse_time(data.get("created_time")),
            _parse_time(data.get("updated_time")),
        )

    @property
    def live(self) -> list[str]:
        """Versions neither deleted nor destroyed at the KV level, oldest first."""
        out = [
            v
            for v, info in self.versions.items()
            if not info.get("destroyed") and not info.get("deletion_time")
        ]
        return sorted(out, key=int)

    @property
    def stages(self) -> dict[str, str]:
        return _stages(self.custom, str(self.data_cas) if self.data_cas else None)

    @property
    def purge_at(self) -> datetime | None:
        return _parse_time(self.custom.get(PURGE_KEY))


def _stages(custom: Mapping[str, str], latest: str | None) -> dict[str, str]:
    """stage -> version; a path sekret never wrote has ``current`` = latest."""
    if FORMAT_KEY not in custom:
        return {CURRENT: latest} if latest else {}
    n = len(STAGE_KEY)
    return {k[n:]: v for k, v in custom.items() if k.startswith(STAGE_KEY)}


def _with_stage(
    custom: Mapping[str, str], latest: str | None, stage: str, version: str | None
) -> dict[str, str]:
    """The custom metadata after moving ``stage`` to ``version`` (current drags previous)."""
    stages = _stages(custom, latest)
    out = {k: v for k, v in custom.items() if not k.startswith(STAGE_KEY)}
    out[FORMAT_KEY] = "1"
    move_label(stages, stage, version)
    out.update({STAGE_KEY + s: v for s, v in stages.items()})
    return out


def _encode(
    value: SecretValue, token: str | None, metadata: Mapping[str, str] | None
) -> dict[str, Any]:
    if value.kind == "bytes":
        text, encoding = base64.b64encode(value.bytes()).decode("ascii"), "base64"
    else:
        text, encoding = value.bytes().decode("utf-8"), "utf-8"
    envelope: dict[str, Any] = {
        "sekret": 1,
        "value": text,
        "encoding": encoding,
        "content_type": value.content_type,
    }
    if token is not None:
        envelope["token"] = token
    if metadata:
        envelope["metadata"] = dict(metadata)
    return envelope


def _decode(payload: Mapping[str, Any]) -> tuple[SecretValue, dict[str, str], str | None]:
    """(value, per-version metadata, token) of a stored envelope or a foreign KV entry."""
    if payload.get("sekret") != 1:
        data = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
        return SecretValue(data, "json", max_bytes=len(data)), {}, None
    raw = str(payload.get("value", ""))
    try:
        if payload.get("encoding") == "base64":
            data = base64.b64decode(raw, validate=True)
        else:
            data = raw.encode()
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise IntegrityError("stored vault envelope has a malformed value") from exc
    ctype = str(payload.get("content_type"))
    value = SecretValue.from_stored(data, ctype, max_bytes=len(data) or 1)
    meta = payload.get("metadata") or {}
    token = payload.get("token")
    token = token if isinstance(token, str) else None
    return value, {str(k): str(v) for k, v in meta.items()}, token


class VaultBackend(Backend):
    """KV v2 on Vault/OpenBao; see the module docstring for the storage layout.

    ``address``/``addresses``: one or more node URLs (default ``$VAULT_ADDR``,
    ``$BAO_ADDR``, then http://127.0.0.1:8200); ``mount``: the KV v2 mount;
    ``auth`` and its options (``token``, ``token_file``, ``role``, ``role_id``,
    ``secret_id_file``, ``secret_id_env``, ``jwt_file``, ``auth_mount``): see
    ``_vault_auth``; ``admin``: allow changes; ``namespace``: Vault namespace.
    ``clock`` (recovery windows), ``monotonic`` (token lifetimes) and ``sleep``
    (backoff) are injectable for tests; ``session`` is the ``requests`` session.
    """

    scheme: ClassVar[str] = "vault"
    credential_env: ClassVar[frozenset[str]] = frozenset(
        {
            "VAULT_TOKEN",
            "BAO_TOKEN",
            "VAULT_ROLE_ID",
            "VAULT_SECRET_ID",
            "BAO_ROLE_ID",
            "BAO_SECRET_ID",
            "VAULT_CLIENT_KEY",
            "BAO_CLIENT_KEY",
            "VAULT_TOKEN_FILE",
        }
    )  # read by sekret run to keep them from the child (see Backend.credential_env)

    def __init__(
        self,
        address: str | Sequence[str] | None = None,
        *,
        addresses: Sequence[str] | None = None,
        mount: str = "secret",
        auth: str | AuthMethod = "token",
        admin: bool = False,
        namespace: str | None = None,
        verify: bool | str = True,
        timeout: float = 10.0,
        session: Any = None,
        clock: Callable[[], datetime] = utcnow,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        failover_rounds: int = 2,
        max_throttle_retries: int = 4,
        **auth_options: Any,
    ) -> None:
        require("hvac", "vault")  # fail first, and name the extra, if the SDK is missing
        if address is None and not addresses:
            address = os.environ.get("VAULT_ADDR") or os.environ.get("BAO_ADDR") or DEFAULT_ADDR
        addrs = list(addresses or ([address] if isinstance(address, str) else address or []))
        addrs = [a.strip().rstrip("/") for chunk in addrs for a in chunk.split(",") if a.strip()]
        if not addrs or not all(a.startswith(("http://", "https://")) for a in addrs):
            raise ConfigurationError("vault addresses must be http:// or https:// URLs")
        mount = mount.strip("/")
        if not _MOUNT.match(mount):
            raise ConfigurationError(f"vault mount {mount[:60]!r} is not a valid path")
        self._addresses = addrs
        self._mount = mount
        self._admin = admin
        self._namespace = namespace
        self.capabilities = Capability.full() if admin else READ_ONLY
        self._clock = clock
        method = auth if isinstance(auth, AuthMethod) else auth_from_options(auth, auth_options)
        if auth_options:
            raise ConfigurationError(f"unknown vault option(s): {', '.join(sorted(auth_options))}")
        self._auth_kind = method.kind
        self._conn = VaultConnection(
            addrs,
            method,
            label=self.describe(),
            namespace=namespace,
            verify=verify,
            timeout=timeout,
            session=session,
            monotonic=monotonic,
            sleep=sleep,
            failover_rounds=failover_rounds,
            max_throttle_retries=max_throttle_retries,
        )
        self._call = self._conn.call

    # -- construction --------------------------------------------------------
    @classmethod
    def from_url(cls, url: str, **options: Any) -> VaultBackend:
        """``vault+https://h1:8200,h2:8200/<mount>?auth=approle&role_id=...&namespace=...``."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        proto = {"vault": "https", "vault+https": "https", "vault+http": "http"}.get(scheme)
        if proto is None or not parts.netloc:
            raise ConfigurationError(
                f"vault URL must look like vault+https://host:8200/secret, not {url[:60]!r}"
            )
        if "@" in parts.netloc:
            raise ConfigurationError("vault URL must not carry credentials (user@host)")
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        leaked = sorted(set(query) & set(_CREDENTIAL_OPTIONS))
        if leaked:
            raise ConfigurationError(
                f"vault URL must not carry credentials ({', '.join(leaked)}); use *_file or "
                "environment variables, or pass them as keyword options"
            )
        special = ("admin", "timeout", "verify")
        opts: dict[str, Any] = {k: v for k, v in query.items() if k not in special}
        if "admin" in query:
            opts["admin"] = query["admin"].lower() in ("1", "true", "yes")
        if "timeout" in query:
            try:
                opts["timeout"] = float(query["timeout"])
            except ValueError:
                raise ConfigurationError("vault URL option timeout must be a number") from None
        if "verify" in query:
            v = query["verify"]
            flag = {"0": False, "false": False, "no": False, "1": True, "true": True, "yes": True}
            opts["verify"] = flag.get(v.lower(), v)
        opts.update(options)
        hosts = [f"{proto}://{h}" for h in parts.netloc.split(",") if h]
        return cls(hosts, mount=parts.path.strip("/") or "secret", **opts)

    def describe(self) -> str:
        proto = self._addresses[0].split("://", 1)[0]
        hosts = ",".join(a.split("://", 1)[1] for a in self._addresses)
        extra = f"&namespace={self._namespace}" if self._namespace else ""
        return f"vault+{proto}://{hosts}/{self._mount}?auth={self._auth_kind}{extra}"

    @property
    def identity(self) -> str | None:
        return self._conn.identity

    @property
    def admin(self) -> bool:
        return self._admin

    def close(self) -> None:
        self._conn.close()

    # -- KV helpers ------------------------------------------------------------
    def _path(self, kind: str, name: str) -> str:
        return f"{self._mount}/{kind}/{name}"

    def _not_found(self, name: str, exc: SekretError | None = None) -> SecretNotFound:
        err = SecretNotFound(f"secret {name!r} not found", name=name, backend=self.describe())
        if exc is not None:
            err.__cause__ = exc
        return err

    def _meta(self, name: str) -> _Meta | None:
        try:
            reply = self._call("GET", self._path("metadata", name))
        except SecretNotFound:
            return None
        meta = _Meta.of((reply or {}).get("data") or {})
        return meta if meta.versions or FORMAT_KEY in meta.custom else None

    def _check_deleted(self, name: str, custom: Mapping[str, str]) -> bool:
        """Raise SecretDeleted inside the window; True if the window has ended (gone)."""
        purge_at = _parse_time(custom.get(PURGE_KEY))
        if purge_at is None:
            return False
        if self._clock() >= purge_at:
            return True
        raise SecretDeleted(
            f"secret {name!r} is scheduled for deletion on {purge_at:%Y-%m-%d}",
            name=name,
            backend=self.describe(),
            recoverable_until=purge_at,
        )

    def _live_meta(self, name: str) -> _Meta:
        """The metadata of a live secret; purges one whose recovery window ended."""
        meta = self._meta(name)
        if meta is None:
            raise self._not_found(name)
        if self._check_deleted(name, meta.custom):
            self._purge(name)
            raise self._not_found(name)
        return meta

    def _purge(self, name: str) -> None:
        if self._admin:
            with contextlib.suppress(SekretError):  # best effort: the next admin call retries
                self._call("DELETE", self._path("metadata", name))

    def _put_meta(self, name: str, custom: Mapping[str, str], cas: int) -> None:
        self._call(
            "POST",
            self._path("metadata", name),
            {"custom_metadata": dict(custom), "metadata_cas": cas},
        )

    def _need_admin(self, operation: str, needed: Capability) -> None:
        if needed not in self.capabilities or not self._admin:
            raise UnsupportedOperation(
                f"backend {self.describe()} is read-only: {operation} needs a client built "
                "with admin=True (and a policy that allows it)",
                backend=self.describe(),
            )

    # -- reads -----------------------------------------------------------------
    def _read_version(self, name: str, version: str | None) -> dict[str, Any] | None:
        params = {"version": version} if version else None
        try:
            reply = self._call("GET", self._path("data", name), params=params)
        except SecretNotFound:
            return None
        return (reply or {}).get("data") or None

    def read(self, name: str, *, version: str | None = None, stage: str | None = None) -> Secret:
        validate_name(name)
        if stage is not None:
            validate_stage(stage)
        if version is not None and not (version.isdigit() and version != "0" and len(version) < 20):
            raise VersionNotFound(
                f"secret {name!r} has no version {version[:40]!r}",
                name=name,
                version=version[:40],
                backend=self.describe(),
            )
        got = self._read_version(name, version)
        if got is None or got.get("data") is None:
            return self._read_slow(name, version, stage)
        vmeta = got.get("metadata") or {}
        custom = vmeta.get("custom_metadata") or {}
        if self._check_deleted(name, custom):
            raise self._not_found(name)
        got_version = str(vmeta.get("version"))
        stages = _stages(custom, got_version if version is None else None)
        if version is None:
            wanted = stage or CURRENT
            target = stages.get(wanted)
            if target is None:
                raise self._no_stage(name, wanted)
            if target != got_version:
                again = self._read_version(name, target)
                if again is None or again.get("data") is None:
                    raise self._no_version(name, target)
                got, got_version = again, target
        elif stage is not None and stages.get(stage) != version:
            raise self._no_version(name, version, stage)
        return self._secret(name, got_version, got, stages)

    def _read_slow(self, name: str, version: str | None, stage: str | None) -> Secret:
        """The latest version was unreadable (missing, deleted at KV level): go via metadata."""
        meta = self._live_meta(name)
        stages = meta.stages
        if version is None:
            wanted = stage or CURRENT
            version = stages.get(wanted)
            if version is None:
                raise self._no_stage(name, wanted)
        elif stage is not None and stages.get(stage) != version:
            raise self._no_version(name, version, stage)
        got = self._read_version(name, version)
        if got is None or got.get("data") is None:
            raise self._no_version(name, version)
        return self._secret(name, version, got, stages)

    def _secret(
        self, name: str, version: str, got: Mapping[str, Any], stages: Mapping[str, str]
    ) -> Secret:
        value, meta, _ = _decode(got.get("data") or {})
        created = _parse_time((got.get("metadata") or {}).get("created_time"))
        labels = frozenset(s for s, v in stages.items() if v == version)
        return Secret(name, version, value, labels, created, meta)

    def _no_stage(self, name: str, stage: str) -> VersionNotFound:
        return VersionNotFound(
            f"secret {name!r} has no version in stage {stage!r}", name=name, backend=self.describe()
        )

    def _no_version(self, name: str, version: str, stage: str | None = None) -> VersionNotFound:
        return VersionNotFound(
            f"secret {name!r} has no version {version!r}"
            + (f" in stage {stage!r}" if stage else ""),
            name=name,
            version=version,
            backend=self.describe(),
        )

    def versions(self, name: str) -> list[VersionInfo]:
        validate_name(name)
        meta = self._live_meta(name)
        stages = meta.stages
        return [
            VersionInfo(
                name,
                v,
                frozenset(s for s, sv in stages.items() if sv == v),
                _parse_time(meta.versions[v].get("created_time")),
            )
            for v in meta.live
        ]

    def list(
        self,
        prefix: str = "",
        *,
        page_size: int = 100,
        page_token: str | None = None,
        include_deleted: bool = False,
    ) -> Page:
        if page_size < 1:
            raise InvalidValue("page_size must be at least 1")
        if prefix:
            validate_name(prefix.rstrip("/"), what="list prefix")
        items: list[SecretInfo] = []
        names = self._walk(prefix, page_token)
        for full in names:
            if len(items) == page_size:
                return Page.of(items, items[-1].name)
            info = self._info(full, include_deleted)
            if info is not None:
                items.append(info)
        return Page.of(items, None)

    def _walk(self, prefix: str, after: str | None) -> Iterator[str]:
        """Key names under ``prefix`` in sorted order, skipping folders wholly <= ``after``."""
        folder, _, partial = prefix.rpartition("/")
        yield from self._walk_folder(folder + "/" if folder else "", partial, after)

    def _walk_folder(self, folder: str, partial: str, after: str | None) -> Iterator[str]:
        try:
            reply = self._call("GET", self._path("metadata", folder), params={"list": "true"})
        except SecretNotFound:
            return
        keys = [str(k) for k in ((reply or {}).get("data") or {}).get("keys") or []]
        for key in sorted(k for k in keys if k.startswith(partial)):
            full = folder + key
            if key.endswith("/"):
                if after is not None and after > full and not after.startswith(full):
                    continue
                yield from self._walk_folder(full, "", after)
            elif after is None or full > after:
                yield full

    def _info(self, name: str, include_deleted: bool) -> SecretInfo | None:
        meta = self._meta(name)
        if meta is None or not meta.live:
            return None
        purge_at = meta.purge_at
        if purge_at is not None and (not include_deleted or self._clock() >= purge_at):
            return None
        return SecretInfo(
            name,
            created=meta.created,
            updated=meta.updated,
            current_version=meta.stages.get(CURRENT),
            deleted=purge_at is not None,
            recoverable_until=purge_at,
        )

    # -- writes ----------------------------------------------------------------
    def write(
        self,
        name: str,
        value: SecretValue,
        *,
        stages: Collection[str] = (CURRENT,),
        expected_version: str | None = None,
        token: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> VersionInfo:
        validate_name(name)
        self._need_admin("write", Capability.WRITE)
        stage_set = sorted({validate_stage(s) for s in stages})
        value = SecretValue.of(value, max_bytes=self.max_value_bytes)
        pairs = (metadata or {}).items()
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in pairs):
            raise InvalidValue(f"secret {name!r}: metadata keys and values must be str")
        for _ in range(8):
            meta = self._meta(name)
            if meta is not None and self._check_deleted(name, meta.custom):
                self._purge(name)
                meta = None
            current = meta.stages.get(CURRENT) if meta else None
            check_expected_version(
                name,
                expected_version,
                exists=meta is not None,
                current=current,
                backend=self.describe(),
            )
            if token is not None and meta is not None:
                found = self._find_token(name, meta, token, value)
                if found is not None:
                    return found
            body = {
                "data": _encode(value, token, metadata),
                "options": {"cas": meta.data_cas if meta else 0},
            }
            try:
                reply = self._call("POST", self._path("data", name), body)
            except Conflict:
                if expected_version is not None:
                    raise Conflict(
                        f"secret {name!r}: another version was written concurrently",
                        name=name,
                        backend=self.describe(),
                    ) from None
                continue  # a concurrent writer won the race; re-read and try again
            data = (reply or {}).get("data") or {}
            version = str(data.get("version"))
            labels = self._label(name, version, stage_set, meta, expected_version)
            created = _parse_time(data.get("created_time"))
            return VersionInfo(name, version, labels, created, dict(metadata or {}))
        raise self._busy(name, "too many concurrent writers")

    def _busy(self, name: str, why: str) -> Conflict:
        return Conflict(f"secret {name!r}: {why}", name=name, backend=self.describe())

    def _label(
        self,
        name: str,
        version: str,
        stage_set: Sequence[str],
        meta: _Meta | None,
        expected: str | None,
    ) -> frozenset[str]:
        """Put ``stage_set`` on the new ``version`` with metadata check-and-set (retrying)."""
        for attempt in range(8):
            if attempt:
                meta = self._meta(name)
                if expected is not None and expected != ABSENT:
                    current = meta.stages.get(CURRENT) if meta else None
                    if current != expected:
                        raise Conflict(
                            f"secret {name!r}: current moved while version {version} was "
                            "written; that version is stored without stages",
                            name=name,
                            version=version,
                            backend=self.describe(),
                        )
            custom: Mapping[str, str] = meta.custom if meta else {}
            latest = str(meta.data_cas) if meta and meta.data_cas else None
            new = dict(custom)
            for stage in stage_set:
                new = _with_stage(new, latest, stage, version)
            if FORMAT_KEY not in new:  # no stage given: make the implicit map explicit
                new = _with_stage(new, latest, CURRENT, latest)
            try:
                self._put_meta(name, new, meta.meta_cas if meta else 0)
            except Conflict:
                continue
            return frozenset(s for s, v in _stages(new, None).items() if v == version)
        raise self._busy(name, "stage map kept changing")

    def _find_token(
        self, name: str, meta: _Meta, token: str, value: SecretValue
    ) -> VersionInfo | None:
        stages = meta.stages
        for v in reversed(meta.live):
            got = self._read_version(name, v)
            if not got or got.get("data") is None:
                continue
            stored, vmeta, stored_token = _decode(got["data"])
            if stored_token != token:
                continue
            if stored != value:
                raise Conflict(
                    f"secret {name!r}: token already used for a different value",
                    name=name,
                    version=v,
                    backend=self.describe(),
                )
            labels = frozenset(s for s, sv in stages.items() if sv == v)
            created = _parse_time((got.get("metadata") or {}).get("created_time"))
            return VersionInfo(name, v, labels, created, vmeta)
        return None

    def move_stage(
        self,
        name: str,
        stage: str,
        version: str | None,
        *,
        expected_version: str | None = None,
    ) -> None:
        validate_name(name)
        validate_stage(stage)
        self._need_admin("move_stage", Capability.STAGES)
        for _ in range(8):
            meta = self._live_meta(name)
            if version is not None and version not in meta.live:
                raise self._no_version(name, version)
            stages = meta.stages
            check_stage_holder(
                name, stage, stages.get(stage), expected_version, backend=self.describe()
            )
            if stage == CURRENT and version is None:
                raise InvalidValue("the current stage cannot be removed, only moved")
            latest = str(meta.data_cas) if meta.data_cas else None
            try:
                new = _with_stage(meta.custom, latest, stage, version)
                self._put_meta(name, new, meta.meta_cas)
            except Conflict:
                continue
            return
        raise self._busy(name, "stage map kept changing")

    def delete(self, name: str, *, recovery_days: int = DEFAULT_RECOVERY_DAYS) -> datetime:
        validate_name(name)
        self._need_admin("delete", Capability.DELETE)
        if not 1 <= recovery_days <= 365:
            raise InvalidValue(f"recovery_days must be 1-365, not {recovery_days}")
        for _ in range(8):
            meta = self._live_meta(name)
            purge_at = (self._clock() + timedelta(days=recovery_days)).astimezone(UTC)
            custom = dict(meta.custom)
            if FORMAT_KEY not in custom:
                latest = str(meta.data_cas) if meta.data_cas else None
                custom = _with_stage(custom, latest, CURRENT, latest)
            custom[PURGE_KEY] = purge_at.isoformat()
            try:
                self._put_meta(name, custom, meta.meta_cas)
            except Conflict:
                continue
            return purge_at
        raise self._busy(name, "metadata kept changing")

    def restore(self, name: str) -> None:
        validate_name(name)
        self._need_admin("restore", Capability.DELETE)
        for _ in range(8):
            meta = self._meta(name)
            if meta is None:
                raise self._not_found(name)
            purge_at = meta.purge_at
            if purge_at is None:
                return
            if self._clock() >= purge_at:
                self._purge(name)
                raise SecretNotFound(
                    f"secret {name!r} not found (its recovery window has ended)",
                    name=name,
                    backend=self.describe(),
                )
            custom = {k: v for k, v in meta.custom.items() if k != PURGE_KEY}
            try:
                self._put_meta(name, custom, meta.meta_cas)
            except Conflict:
                continue
            return
        raise self._busy(name, "metadata kept changing")

    def destroy(self, name: str) -> None:
        validate_name(name)
        self._need_admin("destroy", Capability.DESTROY)
        if self._meta(name) is None:
            raise self._not_found(name)
        self._call("DELETE", self._path("metadata", name))

    # -- least privilege ---------------------------------------------------------
    @classmethod
    def policy(
        cls, root: str, *, access: str = "read", mount: str = "secret", **options: Any
    ) -> str:
        """HCL granting ``access`` (read|rotate) to every secret under ``root``."""
        validate_name(root, what="policy root")
        mount = mount.strip("/")
        if not _MOUNT.match(mount):
            raise ConfigurationError(f"vault mount {mount[:60]!r} is not a valid path")
        if options:
            raise ConfigurationError(f"unknown policy option(s): {', '.join(sorted(options))}")
        if access == "read":
            data, meta = ["read"], ["read", "list"]
        elif access == "rotate":
            data = ["create", "read", "update", "patch", "delete"]
            meta = ["create", "read", "update", "patch", "delete", "list"]
        else:
            raise ConfigurationError(f"policy access must be 'read' or 'rotate', not {access!r}")

        def caps(items: list[str]) -> str:
            return ", ".join(f'"{c}"' for c in items)

        what = "read-only access" if access == "read" else "read and rotation (admin) access"
        return (
            f"# sekret: {what} to {mount}/{root}/* (KV v2); generated by VaultBackend.policy\n"
            f'path "{mount}/data/{root}/*" {{\n  capabilities = [{caps(data)}]\n}}\n\n'
            f'path "{mount}/metadata/{root}/*" {{\n  capabilities = [{caps(meta)}]\n}}\n'
        )
