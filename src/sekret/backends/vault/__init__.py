"""``vault+https://host:8200/<kv-mount>``: HashiCorp Vault and OpenBao, KV v2, native first.

The rule: what a native reader (``bao kv get``, Vault Agent, External Secrets
Operator) gets for a secret is sekret's ``current``, at every moment,
whoever wrote it. The layout that follows from it (also in
docs/backends/vault.md, "Working alongside other tools"):

* ``<mount>/data/<app/env/name>`` holds only values that are or were current.
  ``current`` is its latest version; ``previous`` is the newest live version
  below it, derived each time (nothing another tool could erase). A version
  written by ``bao kv put`` simply becomes current.
* Values have the native shape (see ``_shape``): a JSON object is the data map
  itself, text is one field (``value`` by default, ``?field=`` to change it).
* ``pending`` and other labels, staged (not yet current) values, the
  soft-delete mark and a mirror of the version records live in the hidden
  companion ``<mount>/data/.sekret/<app/env/name>``; ``list`` hides it and the
  generated policies cover it. Staged versions have ids ``p1``, ``p2``...
* Promotion writes the staged value as the new latest version with the KV v2
  ``cas`` option; rollback writes the older value again as the latest version
  (as ``vault kv rollback`` does). Either way every reader agrees at once.
* Format markers, tokens and per-version metadata are kept in the secret's
  ``custom_metadata`` (``sekret.v.<n>``, one request per read) and mirrored in
  the companion: a ``kv metadata put -custom-metadata=...`` rewrite loses
  nothing; pruning (``max_versions``) can only remove old versions.
* Soft delete marks the companion (and custom metadata) and KV-deletes the
  latest version, so native readers see the secret gone too; restore
  undeletes it. If the latest version was deleted or destroyed by another
  tool, sekret has no current and says so; it never serves an older value.

The mount is checked once, on first use (``sys/internal/ui/mounts``): a
missing mount or a KV v1 mount is a ``ConfigurationError`` naming the fix.

hvac: a required dependency, of which only the HTTP adapter is used (it sets
the token and namespace headers and owns the ``requests`` session). Its KV v2
helpers do not fit: ``update_metadata`` has no ``metadata_cas`` (OpenBao's
metadata check-and-set, which keeps the markers safe against a concurrent
writer), and each helper talks to one address, while sekret fails over
across HA nodes and maps every answer to a sekret error in ``_connection``.
So the KV calls here are plain paths (``data/``, ``metadata/``,
``undelete/``) sent through the adapter, and logins are one POST each in
``_auth``.

Least privilege: the client is read-only unless built with ``admin=True``;
a read-only client refuses every change with ``UnsupportedOperation`` before
any request. This module must never put a value, token or secret_id into a
repr, log line or exception message.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlsplit

from sekret._names import validate_name
from sekret._values import (
    CURRENT,
    PENDING,
    PREVIOUS,
    Page,
    Secret,
    SecretInfo,
    SecretValue,
    VersionInfo,
    validate_stage,
)
from sekret.backends.base import (
    DEFAULT_RECOVERY_DAYS,
    Backend,
    Capability,
    LeaseGrant,
    check_expected_version,
    check_page_size,
    check_stage_holder,
    require_extra,
    token_reused,
    utcnow,
)
from sekret.backends.vault import _leases
from sekret.backends.vault._auth import AuthMethod, auth_from_options
from sekret.backends.vault._connection import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_READ_TIMEOUT,
    VaultConnection,
)
from sekret.backends.vault._policy import (
    COMPANION,
    lease_policy_hcl,
    mount_of_url,
    policy_hcl,
    valid_mount,
)
from sekret.backends.vault._shape import Record, decode, encode
from sekret.backends.vault._state import (
    MANAGED,
    PURGE_KEY,
    VKEY,
    Companion,
    Main,
    View,
    parse_time,
)
from sekret.exceptions import (
    ConfigurationError,
    Conflict,
    IntegrityError,
    InvalidSecretName,
    InvalidValue,
    SecretDeleted,
    SecretNotFound,
    SekretError,
    UnsupportedOperation,
    VersionNotFound,
)

__all__ = ["VaultBackend"]

DEFAULT_ADDR = "http://127.0.0.1:8200"
DEFAULT_FIELD = "value"
READ_ONLY = (
    Capability.READ | Capability.VERSIONS | Capability.STAGES | Capability.LIST | Capability.LEASES
)
_CREDENTIAL_OPTIONS = ("token", "secret_id", "jwt", "password")
_MAX_MARKERS = 48  # Vault allows 64 custom_metadata keys; leave room for other tools
_MAX_STAGED = 8
_RETRIES = 8


def _env(*names: str) -> str | None:
    return next((os.environ[n] for n in names if os.environ.get(n)), None)


class VaultBackend(Backend):
    """KV v2 on Vault/OpenBao; see the module docstring for the layout.

    ``address``/``addresses``: node URLs (default ``$VAULT_ADDR``, ``$BAO_ADDR``,
    then http://127.0.0.1:8200); ``mount``: the KV v2 mount; ``field``: the field
    holding a text value (default ``value``), ``fields`` the same per secret (full or
    short name -> field; ``?field.<name>=<field>`` in the URL); ``auth`` and its options: see
    ``_auth``; ``admin``: allow changes; ``namespace`` (default
    ``$VAULT_NAMESPACE``); ``verify`` (default ``$VAULT_CACERT``/``$VAULT_CAPATH``,
    else system CAs); ``connect_timeout``/``read_timeout`` in seconds.
    ``clock``, ``monotonic`` and ``sleep`` are injectable for tests; ``session``
    is the ``requests`` session.
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
        field: str = DEFAULT_FIELD,
        fields: Mapping[str, str] | None = None,
        auth: str | AuthMethod = "token",
        admin: bool = False,
        namespace: str | None = None,
        verify: bool | str | None = None,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
        timeout: float | None = None,
        session: Any = None,
        clock: Callable[[], datetime] = utcnow,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        failover_rounds: int = 2,
        max_throttle_retries: int = 4,
        check_mount: bool = True,
        lease_roles: Mapping[str, str] | None = None,
        **auth_options: Any,
    ) -> None:
        require_extra("hvac", "vault")  # fail first, and name the extra, if the SDK is missing
        if address is None and not addresses:
            address = _env("VAULT_ADDR", "BAO_ADDR") or DEFAULT_ADDR
        addrs = list(addresses or ([address] if isinstance(address, str) else address or []))
        addrs = [a.strip().rstrip("/") for chunk in addrs for a in chunk.split(",") if a.strip()]
        if not addrs or not all(a.startswith(("http://", "https://")) for a in addrs):
            raise ConfigurationError("vault addresses must be http:// or https:// URLs")
        if not isinstance(field, str) or not field or len(field) > 128:
            raise ConfigurationError("vault option field must be a non-empty field name")
        if timeout is not None:  # one number: the read timeout
            read_timeout = timeout
        for name, t in (("connect_timeout", connect_timeout), ("read_timeout", read_timeout)):
            if not isinstance(t, int | float) or not 0 < t <= 600:
                raise ConfigurationError(f"vault option {name} must be 0-600 seconds")
        self._addresses = addrs
        self._mount = valid_mount(mount)
        self._field = field
        self._fields = dict(fields or {})
        if not all(isinstance(f, str) and 0 < len(f) <= 128 for f in self._fields.values()):
            raise ConfigurationError("vault option fields must map names to field names")
        self._admin = admin
        self._namespace = (
            namespace if namespace is not None else _env("VAULT_NAMESPACE", "BAO_NAMESPACE")
        )
        if verify is None:
            verify = _env("VAULT_CACERT", "BAO_CACERT", "VAULT_CAPATH", "BAO_CAPATH") or True
        self.capabilities = (Capability.full() | Capability.LEASES) if admin else READ_ONLY
        self._lease_roles = _leases.LeaseRoles(lease_roles)
        self._clock = clock
        method = auth if isinstance(auth, AuthMethod) else auth_from_options(auth, auth_options)
        if auth_options:
            raise ConfigurationError(f"unknown vault option(s): {', '.join(sorted(auth_options))}")
        self._auth_kind = method.kind
        self._conn = VaultConnection(
            addrs,
            method,
            label=self.describe(),
            namespace=self._namespace,
            verify=verify,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            session=session,
            monotonic=monotonic,
            sleep=sleep,
            failover_rounds=failover_rounds,
            max_throttle_retries=max_throttle_retries,
        )
        self._mount_checked = not check_mount
        self._mount_lock = threading.Lock()

    # -- construction --------------------------------------------------------
    @classmethod
    def from_url(cls, url: str, **options: Any) -> VaultBackend:
        """``vault+https://h1:8200,h2:8200/<mount>?auth=approle&field.cohere-api-key=api_key``."""
        try:
            parts = urlsplit(url)
            netloc = parts.netloc
        except ValueError:
            raise ConfigurationError("vault URL is not a valid URL") from None
        proto = {"vault": "https", "vault+https": "https", "vault+http": "http"}.get(
            parts.scheme.lower()
        )
        if proto is None or not netloc:
            raise ConfigurationError(
                "vault URL must look like vault+https://host:8200/secret (scheme vault+https)"
            )
        if "@" in netloc:
            raise ConfigurationError("vault URL must not carry credentials (user@host)")
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        leaked = sorted(set(query) & set(_CREDENTIAL_OPTIONS))
        if leaked:
            raise ConfigurationError(
                f"vault URL must not carry credentials ({', '.join(leaked)}); use *_file or "
                "environment variables, or pass them as keyword options"
            )
        numbers = ("timeout", "read_timeout", "connect_timeout")
        opts: dict[str, Any] = {
            k: v for k, v in query.items() if k not in ("admin", "verify", *numbers)
        }
        if "admin" in query:
            opts["admin"] = query["admin"].lower() in ("1", "true", "yes")
        for key in numbers:
            if key in query:
                try:
                    opts["read_timeout" if key == "timeout" else key] = float(query[key])
                except ValueError:
                    raise ConfigurationError(f"vault URL option {key} must be a number") from None
        if "verify" in query:
            v = query["verify"]
            flag = {"0": False, "false": False, "no": False, "1": True, "true": True, "yes": True}
            opts["verify"] = flag.get(v.lower(), v)
        per_secret = {k[6:]: opts.pop(k) for k in list(opts) if k.startswith("field.")}
        if per_secret:
            opts["fields"] = per_secret
        roles = {k[5:]: opts.pop(k) for k in list(opts) if k.startswith("role.")}
        if roles:
            opts["lease_roles"] = roles
        opts.update(options)
        hosts = [f"{proto}://{h}" for h in netloc.split(",") if h]
        return cls(hosts, mount=parts.path.strip("/") or "secret", **opts)

    def describe(self) -> str:
        proto = self._addresses[0].split("://", 1)[0]
        hosts = ",".join(a.split("://", 1)[1] for a in self._addresses)
        extra = f"&namespace={self._namespace}" if self._namespace else ""
        if self._field != DEFAULT_FIELD:
            extra += f"&field={self._field}"
        return f"vault+{proto}://{hosts}/{self._mount}?auth={self._auth_kind}{extra}"

    @property
    def identity(self) -> str | None:
        return self._conn.identity

    @property
    def admin(self) -> bool:
        return self._admin

    @property
    def field(self) -> str:
        """The KV field that holds a text value."""
        return self._field

    def field_of(self, name: str) -> str:
        """The text field of secret ``name``: ``fields`` by full or short name, else ``field``."""
        fields = self._fields
        return fields.get(name) or fields.get(name.rsplit("/", 1)[-1]) or self._field

    def close(self) -> None:
        self._conn.close()

    # -- requests --------------------------------------------------------------
    def _call(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        params: Mapping[str, str] | None = None,
    ) -> dict[str, Any] | None:
        if not self._mount_checked:
            self._check_mount()
        return self._conn.call(method, path, body, params=params)

    def _check_mount(self) -> None:
        """A missing or KV v1 mount is a ConfigurationError, not "not found"."""
        with self._mount_lock:
            if not self._mount_checked:
                self._mount_info(self._mount_lookup())
                self._mount_checked = True

    def _mount_lookup(self) -> dict[str, Any] | None:
        """The mount's description; None if there is none; {} if the token may not ask."""
        try:
            reply = self._conn.call("GET", f"sys/internal/ui/mounts/{self._mount}")
            data = (reply or {}).get("data")
            return data if isinstance(data, dict) and data else None
        except SecretNotFound:
            return None
        except ConfigurationError as exc:  # 400 "no mount at that path"; else a real error
            if getattr(exc.__cause__, "status", None) != 400:
                raise
            return None
        except SekretError as exc:
            if exc.code != "access_denied":
                raise
        # 403: OpenBao's answer for a missing mount, or a token that may not ask about it
        try:
            reply = self._conn.call("GET", "sys/internal/ui/mounts")
        except SekretError:
            return {}  # cannot tell: the real calls will say what is wrong
        listing = ((reply or {}).get("data") or {}).get("secret")
        if not isinstance(listing, dict):
            return {}
        found = listing.get(self._mount + "/")
        if not isinstance(found, dict):
            return None
        return {**found, "path": self._mount + "/"}

    def _mount_info(self, data: dict[str, Any] | None) -> None:
        where = f"{self._mount}/ on {', '.join(self._addresses)}"
        if data == {}:
            return
        path = str((data or {}).get("path") or "").strip("/")
        if data is None or (path and path != self._mount):
            raise ConfigurationError(
                f"no secrets engine is mounted at {where} (or this token may not use it): "
                f"check the mount in the URL, or enable it: bao secrets enable "
                f"-path={self._mount} kv-v2",
                backend=self.describe(),
            )
        options = data.get("options")
        version = str((options if isinstance(options, dict) else {}).get("version") or "1")
        if data.get("type") not in ("kv", "generic") or version != "2":
            kind = f"KV v{version}" if data.get("type") in ("kv", "generic") else "not KV"
            raise ConfigurationError(
                f"the mount {where} is {kind}; sekret needs KV v2 "
                f"(bao kv enable-versioning {self._mount})",
                backend=self.describe(),
            )

    def _path(self, kind: str, name: str) -> str:
        return f"{self._mount}/{kind}/{name}"

    def _where(self, name: str) -> str:
        return f"vault secret {name!r}"

    def _check_name(self, name: str) -> None:
        validate_name(name)
        if name == COMPANION or name.startswith(COMPANION + "/"):
            raise InvalidSecretName(f"names under {COMPANION}/ are reserved for sekret")

    def _not_found(self, name: str, why: str = "") -> SecretNotFound:
        return SecretNotFound(f"secret {name!r} not found{why}", name=name, backend=self.describe())

    def _need_admin(self, operation: str, needed: Capability) -> None:
        if needed not in self.capabilities or not self._admin:
            raise UnsupportedOperation(
                f"backend {self.describe()} is read-only: {operation} needs a client built "
                "with admin=True (and a policy that allows it)",
                backend=self.describe(),
            )

    def _main(self, name: str) -> Main | None:
        try:
            reply = self._call("GET", self._path("metadata", name))
        except SecretNotFound:
            return None
        main = Main.of((reply or {}).get("data"))
        return main if main.versions or main.custom else None

    def _companion(self, name: str) -> Companion:
        try:
            reply = self._call("GET", self._path("data", f"{COMPANION}/{name}"))
        except SecretNotFound:
            return Companion()
        got = (reply or {}).get("data") or {}
        meta = got.get("metadata") or {}
        cas = meta.get("version") if isinstance(meta, dict) else None
        if got.get("data") is None or not isinstance(cas, int):
            return Companion(cas=cas if isinstance(cas, int) else 0)
        return Companion.of(got.get("data"), cas, self._where(name))

    def _view(self, name: str) -> View:
        return View(self._main(name), self._companion(name), self._where(name))

    def _save(self, name: str, comp: Companion) -> None:
        """Write the companion with check-and-set (Conflict if someone else wrote it)."""
        body = {"data": comp.dump(), "options": {"cas": comp.cas}}
        reply = self._call("POST", self._path("data", f"{COMPANION}/{name}"), body)
        comp.cas = int(((reply or {}).get("data") or {}).get("version") or comp.cas + 1)
        if comp.cas == 1:  # a fresh companion keeps no history of staged values
            with contextlib.suppress(SekretError):
                self._call(
                    "POST", self._path("metadata", f"{COMPANION}/{name}"), {"max_versions": 1}
                )

    # -- deletion marks ------------------------------------------------------------
    def _purge_at(self, view: View) -> datetime | None:
        main = view.main
        mark = view.comp.purge_at or (main.custom.get(PURGE_KEY) if main else None)
        return parse_time(mark)

    def _check_deleted(self, name: str, view: View) -> None:
        """SecretDeleted inside the window; past it the secret is purged and not found."""
        purge_at = self._purge_at(view)
        if purge_at is None:
            return
        if self._clock() >= purge_at:
            if self._admin:
                with contextlib.suppress(SekretError):  # best effort: the next call retries
                    self._destroy_all(name)
            raise self._not_found(name, " (its recovery window has ended)")
        raise SecretDeleted(
            f"secret {name!r} is scheduled for deletion on {purge_at:%Y-%m-%d}",
            name=name,
            backend=self.describe(),
            recoverable_until=purge_at,
        )

    def _live_view(self, name: str) -> View:
        view = self._view(name)
        if not view.any and view.main is None and not view.comp.exists:
            raise self._not_found(name)
        self._check_deleted(name, view)
        if not view.any:
            raise self._not_found(name)
        return view

    def _no_current(self, name: str, view: View) -> SekretError:
        latest = view.main.latest if view.main else None
        if latest is None:
            return self._not_found(name, " (it has only a pending version)")
        return VersionNotFound(
            f"secret {name!r} has no current version: its latest version {latest} was deleted "
            "or destroyed outside sekret (undelete it, or write a new value)",
            name=name,
            version=latest,
            backend=self.describe(),
        )

    # -- reads -----------------------------------------------------------------
    def _get_version(self, name: str, version: str | None) -> dict[str, Any] | None:
        params = {"version": version} if version else None
        try:
            reply = self._call("GET", self._path("data", name), params=params)
        except SecretNotFound:
            return None
        got = (reply or {}).get("data")
        return got if isinstance(got, dict) and isinstance(got.get("data"), dict) else None

    def read(self, name: str, *, version: str | None = None, stage: str | None = None) -> Secret:
        self._check_name(name)
        if stage is not None:
            validate_stage(stage)
        if version is not None and (len(version) > 20 or not version.isalnum()):
            raise self._no_version(name, version[:40])
        if version is None and stage in (None, CURRENT):
            fast = self._read_current_fast(name)
            if fast is not None:
                return fast
        view = self._live_view(name)
        if version is None:
            wanted = stage or CURRENT
            version = view.holder(wanted)
            if version is None:
                if wanted == CURRENT:
                    raise self._no_current(name, view)
                raise self._no_stage(name, wanted)
        elif not view.exists(version := view.resolve(version) or version):
            raise self._no_version(name, version)
        elif stage is not None and view.holder(stage) != version:
            raise self._no_version(name, version, stage)
        return self._secret(name, view, version)

    def _read_current_fast(self, name: str) -> Secret | None:
        """One request when sekret's markers are intact, two when they are not there
        (a native secret, or a metadata rewrite: the companion says); None means "take
        the slow path" (deleted, or odd answers)."""
        got = self._get_version(name, None)
        if got is None:
            return None
        meta = got.get("metadata")
        custom = meta.get("custom_metadata") if isinstance(meta, dict) else None
        if not isinstance(meta, dict):
            return None
        custom = custom if isinstance(custom, dict) else {}
        version = str(meta.get("version"))
        if PURGE_KEY in custom or not version.isdigit():
            return None
        where = f"{self._where(name)} version {version}"
        if MANAGED in custom:
            raw = custom.get(VKEY + version)
            rec = Record() if raw is None else Record.load(raw, where)
        else:
            comp = self._companion(name)
            if comp.purge_at is not None:
                return None
            mirrored = comp.records.get(version)
            rec = Record() if mirrored is None else Record.load(mirrored, where)
            if rec.created is not None and rec.created != meta.get("created_time"):
                rec = Record()  # a record of an earlier secret under this name
        value = decode(got["data"], rec.fmt, self.field_of(name), where)
        created = parse_time(meta.get("created_time"))
        return Secret(name, version, value, frozenset({CURRENT}), created, rec.metadata)

    def _secret(self, name: str, view: View, version: str) -> Secret:
        where = f"{self._where(name)} version {version}"
        if version in view.staged:
            entry = view.comp.staged[version]
            rec = Record.load(entry.get("rec") or {}, where)
            value = decode(entry.get("data"), rec.fmt, self.field_of(name), where)
            created = parse_time(entry.get("created"))
        else:
            got = self._get_version(name, version)
            if got is None:
                raise self._no_version(name, version)
            rec = view.record(version)
            value = decode(got["data"], rec.fmt, self.field_of(name), where)
            created = parse_time((got.get("metadata") or {}).get("created_time"))
        return Secret(name, version, value, view.stages_of(version), created, rec.metadata)

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
        self._check_name(name)
        view = self._live_view(name)
        out = []
        for v in view.live:
            created = parse_time(view.main.created_of(v)) if view.main else None
            meta = view.record(v).metadata
            out.append(VersionInfo(name, v, view.stages_of(v), created, meta))
        for s in view.staged:
            entry = view.comp.staged[s]
            rec = Record.load(entry.get("rec") or {}, f"{self._where(name)} version {s}")
            created = parse_time(entry.get("created"))
            out.append(VersionInfo(name, s, view.stages_of(s), created, rec.metadata))
        return out

    def list(
        self,
        prefix: str = "",
        *,
        page_size: int = 100,
        page_token: str | None = None,
        include_deleted: bool = False,
    ) -> Page:
        check_page_size(page_size)
        if prefix:
            validate_name(prefix.rstrip("/"), what="list prefix")
        items: list[SecretInfo] = []
        for full in self._walk(prefix, page_token):
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
        keys = ((reply or {}).get("data") or {}).get("keys") or []
        for key in sorted(str(k) for k in keys if str(k).startswith(partial)):
            full = folder + key
            if full.rstrip("/") == COMPANION:
                continue  # sekret's companion tree is not a secret
            if key.endswith("/"):
                if after is not None and after > full and not after.startswith(full):
                    continue
                yield from self._walk_folder(full, "", after)
            elif after is None or full > after:
                yield full

    def _info(self, name: str, include_deleted: bool) -> SecretInfo | None:
        main = self._main(name)
        if main is None or not main.versions:
            return None
        latest = main.latest
        mark = main.custom.get(PURGE_KEY)
        if mark is None and (latest is None or not main.is_live(latest)):
            mark = self._companion(name).purge_at  # the custom metadata may have been rewritten
        purge_at = parse_time(mark)
        if purge_at is not None and (not include_deleted or self._clock() >= purge_at):
            return None
        current = latest if latest is not None and main.is_live(latest) else None
        if current is None and purge_at is None:
            return None  # deleted outside sekret: nothing is current
        return SecretInfo(
            name,
            created=main.created,
            updated=main.updated,
            current_version=current,
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
        self._check_name(name)
        self._need_admin("write", Capability.WRITE)
        stage_set = sorted({validate_stage(s) for s in stages})
        if PREVIOUS in stage_set:
            raise InvalidValue("on vault, previous is derived (the version before current)")
        value = SecretValue.of(value, max_bytes=self.max_value_bytes)
        pairs = (metadata or {}).items()
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in pairs):
            raise InvalidValue(f"secret {name!r}: metadata keys and values must be str")
        data, fmt = encode(value, self.field_of(name))
        rec = Record(fmt, token, dict(metadata or {}))
        for _ in range(_RETRIES):
            view = self._view(name)
            self._check_deleted(name, view)
            check_expected_version(
                name,
                view.resolve(expected_version) if expected_version else expected_version,
                exists=view.any,
                current=view.current,
                backend=self.describe(),
            )
            if token is not None:
                found = self._find_token(name, view, token, data, fmt)
                if found is not None:
                    return found
            try:
                if CURRENT in stage_set:
                    version, created = self._write_main(name, view, data, rec)
                    others = [s for s in stage_set if s != CURRENT]
                    if others:
                        self._relabel(name, others, version)
                else:
                    version, created = self._stage(name, view, data, rec, stage_set)
            except Conflict:
                if expected_version is not None:
                    raise Conflict(
                        f"secret {name!r}: another version was written concurrently",
                        name=name,
                        backend=self.describe(),
                    ) from None
                continue  # a concurrent writer won the race; look again
            labels = frozenset(stage_set)
            return VersionInfo(name, version, labels, created, dict(metadata or {}))
        raise self._busy(name, "too many concurrent writers")

    def _write_main(
        self, name: str, view: View, data: Mapping[str, Any], rec: Record
    ) -> tuple[str, datetime | None]:
        """Add ``data`` as the new latest KV version (cas on the current latest)."""
        main = view.main
        latest = main.current_version if main else 0
        new = str(latest + 1)
        custom = dict(main.custom) if main else {}
        wanted = rec.marker() if not rec.empty else None
        if not custom.get(MANAGED) or custom.get(VKEY + new) != wanted:
            # markers first: the version never exists without its format marker
            custom[MANAGED] = "1"
            keep = [v for v in (main.versions if main else {})][-_MAX_MARKERS:]
            for key in [k for k in custom if k.startswith(VKEY)]:
                if key[len(VKEY) :] not in keep:
                    del custom[key]
            for v in keep:  # a metadata rewrite lost them: restore from the mirror
                mirrored = view.record(v)
                if VKEY + v not in custom and not mirrored.empty:
                    custom[VKEY + v] = mirrored.marker()
            if wanted is None:
                custom.pop(VKEY + new, None)
            else:
                custom[VKEY + new] = wanted
            body = {"custom_metadata": custom, "metadata_cas": main.meta_cas if main else 0}
            self._call("POST", self._path("metadata", name), body)
        try:
            reply = self._call(
                "POST", self._path("data", name), {"data": dict(data), "options": {"cas": latest}}
            )
        except Conflict:
            if wanted is not None:  # another writer took that version: our marker is not its
                self._drop_marker(name, new, wanted)
            raise
        got = (reply or {}).get("data") or {}
        version = str(got.get("version") or new)
        created = got.get("created_time")
        if not rec.empty:
            self._mirror(name, version, rec, created if isinstance(created, str) else None)
        return version, parse_time(created)

    def _drop_marker(self, name: str, version: str, marker: str) -> None:
        """Best effort: remove the marker placed for a version another writer took."""
        with contextlib.suppress(SekretError):
            main = self._main(name)
            if main is not None and main.custom.get(VKEY + version) == marker:
                custom = {k: v for k, v in main.custom.items() if k != VKEY + version}
                body = {"custom_metadata": custom, "metadata_cas": main.meta_cas}
                self._call("POST", self._path("metadata", name), body)

    def _mirror(self, name: str, version: str, rec: Record, created: str | None) -> None:
        """Copy ``rec`` into the companion, so a metadata rewrite loses nothing."""
        for _ in range(_RETRIES):
            comp = self._companion(name)
            comp.records[version] = Record(
                rec.fmt, rec.token, rec.metadata, rec.origin, created
            ).dump()
            if rec.origin:
                self._finish_promotion(comp, rec.origin, version)
            for old in sorted(comp.records, key=lambda v: int(v) if v.isdigit() else 0)[
                :-_MAX_MARKERS
            ]:
                del comp.records[old]
            try:
                self._save(name, comp)
            except Conflict:
                continue
            return

    @staticmethod
    def _finish_promotion(comp: Companion, staged: str, version: str) -> None:
        """The staged entry became ``version``: its labels follow, except ``pending``."""
        comp.staged.pop(staged, None)
        comp.aliases[staged] = version
        for old in list(comp.aliases)[:-_MAX_STAGED]:
            del comp.aliases[old]
        for label, target in list(comp.labels.items()):
            if target == staged:
                if label == PENDING:
                    del comp.labels[label]
                else:
                    comp.labels[label] = version

    def _stage(
        self,
        name: str,
        view: View,
        data: Mapping[str, Any],
        rec: Record,
        stage_set: Sequence[str],
    ) -> tuple[str, datetime | None]:
        """Keep ``data`` as a staged (not current) version in the companion."""
        comp = view.comp
        sid = f"p{comp.next_id}"
        comp.next_id += 1
        now = self._clock().astimezone(UTC)
        comp.staged[sid] = {"data": dict(data), "rec": rec.dump(), "created": now.isoformat()}
        for stage in stage_set:
            self._set_label(comp, stage, sid)
        while len(comp.staged) > _MAX_STAGED:  # drop the oldest unlabelled staged versions
            held = set(comp.labels.values())
            spare = [s for s in comp.staged if s not in held and s != sid]
            if not spare:
                break
            del comp.staged[spare[0]]
        self._save(name, comp)
        return sid, now

    @staticmethod
    def _set_label(comp: Companion, stage: str, version: str | None) -> None:
        """Move ``stage``; a staged version left without any label is dropped."""
        old = comp.labels.pop(stage, None)
        if version is not None:
            comp.labels[stage] = version
        if old is not None and old in comp.staged and old not in comp.labels.values():
            del comp.staged[old]

    def _relabel(self, name: str, stage_set: Sequence[str], version: str) -> None:
        for _ in range(_RETRIES):
            comp = self._companion(name)
            for stage in stage_set:
                self._set_label(comp, stage, version)
            try:
                self._save(name, comp)
            except Conflict:
                continue
            return
        raise self._busy(name, "labels kept changing")

    def _find_token(
        self, name: str, view: View, token: str, data: Mapping[str, Any], fmt: str | None
    ) -> VersionInfo | None:
        for s in reversed(view.staged):
            entry = view.comp.staged[s]
            rec = Record.load(entry.get("rec") or {}, self._where(name))
            if rec.token == token:
                return self._token_hit(name, view, s, rec, entry.get("data"), data, fmt, entry)
        for v in reversed(view.live):
            rec = view.record(v)
            if rec.token != token:
                continue
            got = self._get_version(name, v)
            stored = got.get("data") if got else None
            return self._token_hit(name, view, v, rec, stored, data, fmt, got or {})
        return None

    def _token_hit(
        self,
        name: str,
        view: View,
        version: str,
        rec: Record,
        stored: object,
        data: Mapping[str, Any],
        fmt: str | None,
        entry: Mapping[str, Any],
    ) -> VersionInfo:
        if stored != data or rec.fmt != fmt:
            raise token_reused(name, version, backend=self.describe())
        created = entry.get("created") or (entry.get("metadata") or {}).get("created_time")
        return VersionInfo(
            name, version, view.stages_of(version), parse_time(created), rec.metadata
        )

    def _busy(self, name: str, why: str) -> Conflict:
        return Conflict(f"secret {name!r}: {why}", name=name, backend=self.describe())

    def move_stage(
        self,
        name: str,
        stage: str,
        version: str | None,
        *,
        expected_version: str | None = None,
    ) -> None:
        self._check_name(name)
        validate_stage(stage)
        self._need_admin("move_stage", Capability.STAGES)
        if stage == PREVIOUS and version is not None:
            raise InvalidValue(
                "on vault, previous is derived (the version before current); move current instead"
            )
        if stage == CURRENT and version is None:
            raise InvalidValue("the current stage cannot be removed, only moved")
        for _ in range(_RETRIES):
            view = self._live_view(name)
            version = view.resolve(version)
            if version is not None and not view.exists(version):
                raise self._no_version(name, version)
            held = view.holder(stage)
            expected = view.resolve(expected_version) if expected_version else expected_version
            check_stage_holder(name, stage, held, expected, backend=self.describe())
            try:
                if stage == PREVIOUS:  # revoke-previous: nothing below current is previous
                    if held is not None and view.current is not None:
                        view.comp.floor = int(view.current)
                        self._save(name, view.comp)
                elif stage != CURRENT:
                    comp = view.comp
                    self._set_label(comp, stage, version)
                    self._save(name, comp)
                elif version is not None and version != view.current:
                    self._make_current(name, view, version)
            except Conflict:
                continue
            return
        raise self._busy(name, "stages kept changing")

    def _make_current(self, name: str, view: View, version: str) -> None:
        """Promote a staged version, or write an older one again (``vault kv rollback``)."""
        if version in view.staged:
            entry = view.comp.staged[version]
            rec = Record.load(entry.get("rec") or {}, self._where(name))
            data = entry.get("data")
            if not isinstance(data, dict):
                raise IntegrityError(f"{self._where(name)}: staged version {version} is malformed")
            self._write_main(name, view, data, Record(rec.fmt, None, rec.metadata, version))
            return
        got = self._get_version(name, version)
        if got is None:
            raise self._no_version(name, version)
        rec = view.record(version)
        self._write_main(name, view, got["data"], Record(rec.fmt, None, rec.metadata))

    # -- delete / restore / destroy ------------------------------------------------
    def delete(self, name: str, *, recovery_days: int = DEFAULT_RECOVERY_DAYS) -> datetime:
        self._check_name(name)
        self._need_admin("delete", Capability.DELETE)
        if not 1 <= recovery_days <= 365:
            raise InvalidValue(f"recovery_days must be 1-365, not {recovery_days}")
        purge_at = (self._clock() + timedelta(days=recovery_days)).astimezone(UTC)
        for _ in range(_RETRIES):
            view = self._live_view(name)
            comp = view.comp
            comp.purge_at = purge_at.isoformat()
            try:
                self._save(name, comp)
                if view.main is not None:
                    self._mark_main(name, purge_at.isoformat())
            except Conflict:
                continue
            if view.current is not None:  # native readers see it gone too
                self._call("DELETE", self._path("data", name))
            return purge_at
        raise self._busy(name, "metadata kept changing")

    def _mark_main(self, name: str, mark: str | None) -> None:
        for _ in range(_RETRIES):
            main = self._main(name)
            if main is None:
                return
            custom = dict(main.custom)
            if mark is None:
                custom.pop(PURGE_KEY, None)
            else:
                custom[PURGE_KEY] = mark
            body = {"custom_metadata": custom, "metadata_cas": main.meta_cas}
            try:
                self._call("POST", self._path("metadata", name), body)
            except Conflict:
                continue
            return
        raise self._busy(name, "metadata kept changing")

    def restore(self, name: str) -> None:
        self._check_name(name)
        self._need_admin("restore", Capability.DELETE)
        for _ in range(_RETRIES):
            view = self._view(name)
            if view.main is None and not view.comp.exists:
                raise self._not_found(name)
            purge_at = self._purge_at(view)
            if purge_at is None:
                return
            if self._clock() >= purge_at:
                with contextlib.suppress(SekretError):
                    self._destroy_all(name)
                raise self._not_found(name, " (its recovery window has ended)")
            main = view.main
            if main is not None and main.latest and not main.is_live(main.latest):
                info = main.versions.get(main.latest) or {}
                if not info.get("destroyed"):
                    self._call(
                        "POST", self._path("undelete", name), {"versions": [int(main.latest)]}
                    )
            if main is not None:
                self._mark_main(name, None)
            comp = view.comp
            comp.purge_at = None
            try:
                self._save(name, comp)
            except Conflict:
                continue
            return
        raise self._busy(name, "metadata kept changing")

    def destroy(self, name: str) -> None:
        self._check_name(name)
        self._need_admin("destroy", Capability.DESTROY)
        if self._main(name) is None and not self._companion(name).exists:
            raise self._not_found(name)
        self._destroy_all(name)

    def _destroy_all(self, name: str) -> None:
        self._call("DELETE", self._path("metadata", name))
        with contextlib.suppress(SecretNotFound):
            self._call("DELETE", self._path("metadata", f"{COMPANION}/{name}"))

    # -- leases (database secrets engine; see _leases) ----------------------------
    def issue_lease(self, name: str, *, replaces: str | None = None) -> LeaseGrant:
        """New credentials for ``name`` from its engine role (``?role.<name>=mount/role``)."""
        self._check_name(name)
        return _leases.issue(self._conn, self._lease_roles, name)

    def renew_lease(self, lease_id: str, *, increment: float | None = None) -> float:
        return _leases.renew(self._conn, lease_id, increment)

    def revoke_lease(self, lease_id: str) -> None:
        _leases.revoke(self._conn, lease_id)

    # -- least privilege ---------------------------------------------------------
    @classmethod
    def policy_options(cls, url: str) -> dict[str, str]:
        """What a policy takes from a backend URL: its mount (``sekret policy URL``)."""
        return {"url": url}

    @classmethod
    def policy(
        cls,
        root: str,
        *,
        access: str = "read",
        mount: str | None = None,
        url: str | None = None,
        leases: str | Sequence[str] | None = None,
        **options: Any,
    ) -> str:
        """HCL granting ``access`` (read|rotate) under ``root`` on ``mount`` or ``url``'s.

        ``leases``: engine roles (``role`` or ``mount/role``, comma-separated or a
        list) whose dynamic credentials the client may read, renew and revoke.
        """
        if options:
            raise ConfigurationError(f"unknown policy option(s): {', '.join(sorted(options))}")
        if mount is None:
            mount = mount_of_url(url) if url else "secret"
        document = policy_hcl(root, access=access, mount=mount)
        specs = leases.split(",") if isinstance(leases, str) else list(leases or [])
        roles = [_leases.LeaseRoles.parse(s, s) for s in (x.strip() for x in specs) if s]
        if roles:
            document += "\n" + lease_policy_hcl(roles)
        return document
