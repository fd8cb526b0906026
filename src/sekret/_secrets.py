"""The facade: ``Secrets`` (sync) and ``AsyncSecrets`` (async).

This is the composition root. It resolves short names through the
Namespace, and builds the stack a read goes through::

    Secrets -> SecretCache -> (audit wrapper) -> Backend

Writes (put, rollback, delete, restore, destroy, stage moves) go straight to
the (audited) backend and invalidate the cache entry of that name.

Both faces share this one implementation: ``AsyncSecrets`` answers cache
hits inline and runs everything that may do I/O in a worker thread.
It must never hold a value anywhere but the cache and the caller's hands.
"""

from __future__ import annotations

import os

from sekret._expiry import ExpiryReads, audit_expired
from sekret._names import Namespace, validate_name
from sekret._refs import field_text, field_value, looks_like_reference, parse_reference
from sekret._values import CURRENT, PENDING, PREVIOUS, Secret, SecretInfo, SecretValue, VersionInfo
from sekret.backends import open_backend
from sekret.backends.base import DEFAULT_RECOVERY_DAYS, Backend, ReadOnlyView
from sekret.exceptions import (
    AccessDenied,
    ConfigurationError,
    InvalidReference,
    SecretExpired,
    SecretNotFound,
    SekretError,
    VersionNotFound,
)

__all__ = ["AsyncSecrets", "Secrets"]

_MEMO_SIZE = 4096  # the short-name memo's smallest bound

# Typing-only names: importing typing, the cache or the audit trail here would put
# them on the import path of every `from sekret import Secrets`.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping, Sequence
    from datetime import datetime, timedelta
    from types import TracebackType
    from typing import Any, ParamSpec, TypeVar

    from sekret._refs import Reference
    from sekret.audit import AuditLog
    from sekret.cache import CachePolicy, SecretCache
    from sekret.leases import Lease

    P = ParamSpec("P")
    T = TypeVar("T")


def _no_clock() -> float:
    return 0.0


class Secrets:
    """Read and manage one app's secrets in one environment.

    ``strict_expiry``: refuse (``SecretExpired``) a version whose ``expires_at``
    metadata has passed; without it such reads only record a ``secret.expired``
    audit warning. ``wall_clock`` (aware UTC datetimes) decides expiry.

    >>> secrets = Secrets("memory://", app="arrwdb", environment="development")
    >>> secrets.put("cohere-api-key", "example-value").version
    '1'
    """

    def __init__(
        self,
        backend: str | Backend,
        *,
        app: str,
        environment: str,
        prefix: str | None = None,
        cache: CachePolicy | bool = True,
        audit: AuditLog | None = None,
        read_only: bool = False,
        clock: Callable[[], float] | None = None,
        strict_expiry: bool = False,
        wall_clock: Callable[[], datetime] | None = None,
        **backend_options: Any,
    ) -> None:
        self.namespace = Namespace(app, environment, prefix)
        raw = open_backend(backend, **backend_options) if isinstance(backend, str) else backend
        self._owns_backend = isinstance(backend, str)
        if read_only:  # issue 13 §9: client.backend of a read-only client cannot write
            raw = ReadOnlyView(raw)
        self.audit = audit
        self.backend: Backend = (
            audit.wrap(raw, app=app, environment=environment) if audit is not None else raw
        )
        # Reads go through the expiry check (sekret._expiry); writes go to self.backend.
        self._reads = ExpiryReads(
            self.backend,
            strict=strict_expiry,
            clock=wall_clock,
            on_expired=audit_expired(self.backend) if audit is not None else None,
        )
        self.read_only = read_only
        # short -> full, validated once (reads only); bounded, oldest out first, and at
        # least as large as the cache so every cached name's hit skips validation.
        self._full_names: dict[str, str] = {}
        self._memo_size = _MEMO_SIZE
        # reference text -> (parsed, full name), checked once (reads only)
        self._references: dict[str, tuple[Reference, str]] = {}
        self._leases: dict[str, Lease] = {}  # full name -> the one live lease (see lease())
        self.cache: SecretCache | None = None
        if cache is not False:
            from sekret.cache import CachePolicy, SecretCache  # lazy: see TYPE_CHECKING above

            policy = cache if isinstance(cache, CachePolicy) else CachePolicy()
            kwargs: dict[str, Any] = {"clock": clock} if clock is not None else {}
            self.cache = SecretCache(self._reads, policy, **kwargs)  # type: ignore[arg-type]
            self._memo_size = max(_MEMO_SIZE, policy.max_size)
            if audit is not None:
                audit.attach_cache(self.cache)
        # Strict audit mode records every read, cache hits included (None: no cost).
        self._on_read = audit.read_hook(self.backend) if audit is not None else None
        # get()'s hot path reads the cache's entries itself, unless every read is recorded
        # (see SecretCache.hot_path); None: every get() takes the full path.
        self._hot: dict[str, Any] = {}  # stays empty without a cache
        self._hot_clock: Callable[[], float] = _no_clock
        self._get_text: Callable[[str], str] = self._read_text
        self._alias: Callable[[str, str], None] | None = None
        self._unalias: Callable[[str], None] | None = None
        if self.cache is not None and self._on_read is None:
            self._hot, self._hot_clock = self.cache.hot_path()
            self._get_text = self.cache.get_text
            self._alias, self._unalias = self.cache.alias, self.cache.unalias

    # -- construction from the environment ---------------------------------
    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **options: Any) -> Secrets:
        """Build from ``SEKRET_BACKEND``, ``SEKRET_APP`` and ``SEKRET_ENV``."""
        env = os.environ if environ is None else environ
        if not env.get("SEKRET_BACKEND"):
            from sekret.manifest import find_manifest  # lazy: only when no backend is set

            found = find_manifest()
            if found is not None:
                if env.get("SEKRET_READ_ONLY", "").lower() in ("1", "true", "yes"):
                    options.setdefault("read_only", True)
                return cls.from_manifest(found, env.get("SEKRET_ENV") or None, **options)
        missing = [k for k in ("SEKRET_BACKEND", "SEKRET_APP", "SEKRET_ENV") if not env.get(k)]
        if missing:
            raise ConfigurationError(
                "cannot build Secrets from the environment: " + ", ".join(missing) + " not set"
            )
        read_only = env.get("SEKRET_READ_ONLY", "").lower() in ("1", "true", "yes")
        options.setdefault("read_only", read_only)
        return cls(
            env["SEKRET_BACKEND"], app=env["SEKRET_APP"], environment=env["SEKRET_ENV"], **options
        )

    @classmethod
    def from_manifest(
        cls,
        path: str | os.PathLike[str] | None = None,
        environment: str | None = None,
        **options: Any,
    ) -> Secrets:
        """Build from ``sekret.toml``/``[tool.sekret]`` (found upward from the cwd).

        ``environment`` defaults to ``SEKRET_ENV``, then the manifest's
        ``default_environment``; ``options`` override what the manifest sets.
        """
        from sekret.manifest import load_manifest  # lazy: tomllib only when used

        return cls(**load_manifest(path).client_arguments(environment, **options))

    # -- names -------------------------------------------------------------
    def full_name(self, name: str) -> str:
        """``cohere-api-key`` -> ``arrwdb/production/cohere-api-key``."""
        return self.namespace.full(name)

    # -- reads -------------------------------------------------------------
    def get_secret(
        self, name: str, *, version: str | None = None, stage: str | None = None
    ) -> Secret:
        """One version (``current`` by default) with its metadata.

        ``name`` may be a reference (``sekret://db@previous``, see sekret._refs);
        a field selector is refused here: the whole secret is returned.
        """
        full, version, stage, field = self._target(name, version, stage, None)
        if field is not None:
            raise InvalidReference(
                f"get_secret returns the whole secret; read field {field!r} with get or get_json"
            )
        return self._read(full, version, stage)

    def _read(self, full: str, version: str | None, stage: str | None) -> Secret:
        if self.cache is None:
            return self._reads.read(full, version=version, stage=stage)
        secret = self.cache.get(full, version=version, stage=stage)
        if self._on_read is not None:
            self._on_read(full, secret.version, stage)
        return secret

    def _resolve(self, name: str) -> str:
        """``namespace.full`` memoised for reads, so a cache hit skips re-validating the name.

        The memo holds at least as many names as the cache; when full, the
        oldest quarter leaves (O(1) amortised), never the whole memo at once.
        """
        full = self.namespace.full(name)
        memo = self._full_names
        if len(memo) >= self._memo_size:
            drop = range(self._memo_size // 4 + 1)
            for old in [k for k, _ in zip(memo, drop, strict=False)]:
                gone = memo.pop(old)
                if self._unalias is not None:
                    self._unalias(gone)
        memo[name] = full
        if self._alias is not None:
            self._alias(full, name)  # get()'s hit path finds the cached entry by this name
        return full

    def _target(
        self, name: str, version: str | None, stage: str | None, field: str | None
    ) -> tuple[str, str | None, str | None, str | None]:
        """``(full name, version, stage, field)`` for a short name or a reference."""
        if not looks_like_reference(name):
            return self._full_names.get(name) or self._resolve(name), version, stage, field
        known = self._references.get(name)
        if known is None:
            parsed = parse_reference(name, require_scheme=False)
            known = (parsed, parsed.full_name(self.namespace))  # another environment: refused
            if len(self._references) >= 4096:
                self._references.clear()
            self._references[name] = known
        ref, full = known
        if (ref.version or ref.stage) and (version is not None or stage is not None):
            raise InvalidReference(
                f"reference {str(ref)!r} selects a version or stage and so does the call: "
                "give one of them"
            )
        if ref.field is not None and field is not None and ref.field != field:
            raise InvalidReference(
                f"reference {str(ref)!r} selects field {ref.field!r} and the call {field!r}"
            )
        return (
            full,
            ref.version if ref.version is not None else version,
            ref.stage if ref.stage is not None else stage,
            ref.field if ref.field is not None else field,
        )

    def get(
        self,
        name: str,
        version: str | None = None,
        stage: str | None = None,
        field: str | None = None,
    ) -> str:
        """The value as text (current version by default).

        ``name`` may be a reference (``sekret://db-credentials#password``);
        ``field`` reads one field of a JSON object value (strings as they are,
        other JSON values as JSON text); a missing field raises FieldNotFound.
        Pass ``version``, ``stage`` and ``field`` by keyword; they are not
        keyword-only only because a call with keyword-only defaults costs
        CPython 3.11 about 35 ns more, a sixth of a cache hit.
        """
        if version is None and stage is None and field is None:
            # The hot path: a cache hit for a name read before, with no call on the way
            # (SecretCache.hot_path). It does what SecretCache._touch does.
            try:
                entry = self._hot[name]
            except KeyError:
                entry = None  # decided outside the handler: no KeyError as __context__
            if entry is not None:
                clock = self._hot_clock  # an attribute, not a method: no LOAD_METHOD
                now = clock()
                if now < entry.refresh_at:
                    entry.used = now
                    hits = entry.hits
                    if hits == entry.drained:
                        entry.first = now
                    entry.hits = hits + 1
                    text: str | None = entry.text
                    if text is None:
                        text = entry.text = entry.secret.value.text()
                    return text
            if not looks_like_reference(name):
                return self._get_text(self._full_names.get(name) or self._resolve(name))
        return self._get_field_text(name, version, stage, field)

    def _read_text(self, full: str) -> str:
        return self._read(full, None, None).value.text()

    def _get_field_text(
        self, name: str, version: str | None, stage: str | None, field: str | None
    ) -> str:
        full, version, stage, field = self._target(name, version, stage, field)
        return self._as_text(self._read(full, version, stage), field)

    # -- one secret (or one field of it) as text, bytes or JSON: shared by both faces --
    def _as_text(self, secret: Secret, field: str | None) -> str:
        if field is None:
            return secret.value.text()
        return field_text(secret, field, backend=self.backend.describe())

    def _as_bytes(self, secret: Secret, field: str | None) -> bytes:
        if field is None:
            return secret.value.bytes()
        return field_text(secret, field, backend=self.backend.describe()).encode("utf-8")

    def _as_json(self, secret: Secret, field: str | None) -> Any:
        if field is None:
            return secret.value.json()
        return field_value(secret, field, backend=self.backend.describe())

    def get_bytes(
        self,
        name: str,
        *,
        version: str | None = None,
        stage: str | None = None,
        field: str | None = None,
    ) -> bytes:
        full, version, stage, field = self._target(name, version, stage, field)
        return self._as_bytes(self._read(full, version, stage), field)

    def get_json(
        self,
        name: str,
        *,
        version: str | None = None,
        stage: str | None = None,
        field: str | None = None,
    ) -> Any:
        """The value parsed as JSON; with ``field`` (or ``#field``), that field of the object."""
        full, version, stage, field = self._target(name, version, stage, field)
        return self._as_json(self._read(full, version, stage), field)

    def get_many(self, names: Sequence[str]) -> dict[str, Secret | SekretError]:
        """Current versions of many secrets (batched where the backend can)."""
        fulls = {self.namespace.full(n): n for n in names}
        if self.cache is not None:
            got = self.cache.prefetch(list(fulls))
        else:
            got = self._reads.read_many(list(fulls))
        return {fulls[k]: v for k, v in got.items()}

    def prefetch(self, names: Sequence[str]) -> dict[str, Secret | SekretError]:
        """Warm the cache at start-up; returns what each name gave."""
        return self.get_many(names)

    def versions(self, name: str) -> list[VersionInfo]:
        """Every live version, oldest first, with its stages (no values)."""
        return self.backend.versions(self.namespace.full(name))

    def list(self, prefix: str = "", *, include_deleted: bool = False) -> Iterator[SecretInfo]:
        """This environment's secrets (short names), following pages lazily."""
        if prefix:
            validate_name(prefix.rstrip("/"), what="list prefix")
        root = self.namespace.root + "/"
        token: str | None = None
        while True:
            page = self.backend.list(
                root + prefix, page_token=token, include_deleted=include_deleted
            )
            for info in page.items:
                yield SecretInfo(
                    self.namespace.short(info.name),
                    info.created,
                    info.updated,
                    info.current_version,
                    info.deleted,
                    info.recoverable_until,
                    info.metadata,
                )
            if page.next_token is None:
                return
            token = page.next_token

    # -- writes ------------------------------------------------------------
    def _writable(self, action: str) -> None:
        if self.read_only:
            raise AccessDenied(
                f"this client is read-only (least privilege): {action} refused; build it with"
                " read_only=False (sekret --admin) for an operator client that can write",
                backend=self.backend.describe(),
            )

    def _invalidate(self, full: str) -> None:
        if self.cache is not None:
            self.cache.invalidate(full)

    def put(
        self,
        name: str,
        value: object,
        *,
        stages: Sequence[str] = (CURRENT,),
        expected_version: str | None = None,
        token: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> Secret:
        """Store a new version (``current`` unless ``stages`` says otherwise)."""
        full = self.namespace.full(name)
        self._writable("put")
        secret_value = SecretValue.of(value, max_bytes=self.backend.max_value_bytes)
        try:
            info = self.backend.write(
                full,
                secret_value,
                stages=stages,
                expected_version=expected_version,
                token=token,
                metadata=metadata,
            )
        finally:
            self._invalidate(full)
        return Secret(full, info.version, secret_value, info.stages, info.created, info.metadata)

    def put_many(
        self, values: Mapping[str, object], *, metadata: Mapping[str, str] | None = None
    ) -> dict[str, Secret | SekretError]:
        """Store a new ``current`` version of each name, in few transactions where the
        backend can (``Backend.put_many``); per-name errors are returned, not raised.

        Each write is atomic on its own; the batch is not.
        """
        from sekret.backends.base import WriteRequest  # lazy: only bulk writes need it

        self._writable("put_many")
        out: dict[str, Secret | SekretError] = {}
        requests: list[tuple[str, WriteRequest]] = []
        for name, value in values.items():
            try:
                full = self.namespace.full(name)
                secret_value = SecretValue.of(value, max_bytes=self.backend.max_value_bytes)
            except SekretError as exc:
                out[name] = exc
                continue
            requests.append((name, WriteRequest(full, secret_value, metadata=metadata)))
        try:
            results = self.backend.put_many([r for _, r in requests])
        finally:
            for _, request in requests:
                self._invalidate(request.name)
        for (name, request), result in zip(requests, results, strict=True):
            if isinstance(result, SekretError):
                out[name] = result
            else:
                out[name] = Secret(
                    request.name,
                    result.version,
                    request.value,
                    result.stages,
                    result.created,
                    result.metadata,
                )
        return out

    def move_stage(
        self,
        name: str,
        stage: str,
        version: str | None,
        *,
        expected_version: str | None = None,
    ) -> None:
        """Move a stage label to ``version`` (None removes it)."""
        full = self.namespace.full(name)
        self._writable("move_stage")
        try:
            self.backend.move_stage(full, stage, version, expected_version=expected_version)
        finally:
            self._invalidate(full)

    def promote(self, name: str) -> VersionInfo:
        """Make the ``pending`` version ``current`` (the old current becomes ``previous``)."""
        full = self.namespace.full(name)
        pending = self._stage_holder(full, PENDING)
        self.move_stage(name, CURRENT, pending.version)
        self.move_stage(name, PENDING, None)
        return self._stage_holder(full, CURRENT)

    def rollback(self, name: str, to_version: str | None = None) -> VersionInfo:
        """Make ``to_version`` (default: ``previous``) current again."""
        full = self.namespace.full(name)
        if to_version is None:
            to_version = self._stage_holder(full, PREVIOUS).version
        current = self._stage_holder(full, CURRENT).version
        self.move_stage(name, CURRENT, to_version, expected_version=current)
        return self._stage_holder(full, CURRENT)

    def _stage_holder(self, full: str, stage: str) -> VersionInfo:
        for info in self.backend.versions(full):
            if stage in info.stages:
                return info
        raise VersionNotFound(
            f"secret {full!r} has no {stage!r} version", name=full, backend=self.backend.describe()
        )

    def delete(self, name: str, *, recovery_days: int = DEFAULT_RECOVERY_DAYS) -> datetime:
        """Soft delete; restorable until the returned time."""
        full = self.namespace.full(name)
        self._writable("delete")
        try:
            return self.backend.delete(full, recovery_days=recovery_days)
        finally:
            self._invalidate(full)

    def restore(self, name: str) -> None:
        """Bring back a soft-deleted secret."""
        full = self.namespace.full(name)
        self._writable("restore")
        try:
            self.backend.restore(full)
        finally:
            self._invalidate(full)

    def destroy(self, name: str) -> None:
        """Delete every version now. There is no undo."""
        full = self.namespace.full(name)
        self._writable("destroy")
        try:
            self.backend.destroy(full)
        finally:
            self._invalidate(full)

    def verify_api_key(
        self,
        name: str,
        presented: str | bytes,
        *,
        grace: timedelta | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> bool:
        """True if ``presented`` is the current key, or the previous one within ``grace``
        (default 7 days).

        The grace period runs from the creation of the current version, so
        clients can switch keys without downtime after a rotation; after it (or
        once ``previous`` is revoked) only the current key is accepted. Both
        comparisons always run, in constant time.
        """
        from datetime import UTC, datetime, timedelta
        from hmac import compare_digest  # lazy: hashlib/OpenSSL cost milliseconds

        candidate = presented.encode("utf-8") if isinstance(presented, str) else presented
        current = self.get_secret(name)
        ok = compare_digest(candidate, current.value.bytes())
        try:
            previous = self.get_secret(name, stage=PREVIOUS)
        except (VersionNotFound, SecretExpired):  # an expired previous key is not accepted
            return ok
        at = (now or (lambda: datetime.now(UTC)))()
        window = grace if grace is not None else timedelta(days=7)
        in_grace = current.created is None or at < current.created + window
        ok_previous = compare_digest(candidate, previous.value.bytes())
        return ok or (ok_previous and in_grace)

    def revoke_previous(self, name: str) -> None:
        """Remove the ``previous`` stage once clients have moved to the current value."""
        full = self.namespace.full(name)
        holder = self._stage_holder(full, PREVIOUS)
        self.move_stage(name, PREVIOUS, None, expected_version=holder.version)

    def exists(self, name: str) -> bool:
        try:
            self.get_secret(name)
        except SecretNotFound:
            return False
        return True

    # -- cache control -----------------------------------------------------
    def invalidate(self, name: str) -> None:
        """Forget the cached value(s) of ``name``; the next read goes to the backend."""
        self._invalidate(self._target(name, None, None, None)[0])

    def refresh(self, name: str) -> Secret:
        """Re-read ``name`` (a name or reference) from the backend now (e.g. after an auth
        failure)."""
        full = self._target(name, None, None, None)[0]
        if self.cache is not None:
            return self.cache.refresh(full)
        return self._reads.read(full)

    # -- dynamic credentials -------------------------------------------------
    def lease(self, name: str, **options: Any) -> Lease:
        """Dynamic credentials for ``name`` (e.g. a database user), renewed in the background.

        One live ``Lease`` per name and client: later calls return the same one
        (``options`` apply to the first). ``close()`` revokes it. Backends
        without leases raise ``UnsupportedOperation``. See docs/leases.md.
        """
        import threading  # lazy: keeps `import sekret` light

        from sekret.leases import Lease  # lazy: see TYPE_CHECKING above

        full = self.namespace.full(name)
        lock = self.__dict__.setdefault("_lease_lock", threading.Lock())
        with lock:
            held = self._leases.get(full)
            if held is None or held.closed:
                held = self._leases[full] = Lease(self.backend, full, **options)
            return held

    # -- lifecycle ---------------------------------------------------------
    def close(self) -> None:
        leases, self._leases = list(self._leases.values()), {}
        for held in leases:  # revoke first: credentials must not outlive the client
            held.close()
        if self.cache is not None:
            self.cache.close()
        if self.audit is not None:
            self.audit.close()
        if self._owns_backend:
            self.backend.close()

    def __enter__(self) -> Secrets:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Secrets {self.namespace.root} via {self.backend.describe()}>"


class AsyncSecrets:
    """The async face of ``Secrets``: the same methods, awaited.

    Cache hits are answered without leaving the event loop; anything that may
    do I/O runs in a worker thread.
    """

    def __init__(self, backend: str | Backend | Secrets, **options: Any) -> None:
        self.sync = backend if isinstance(backend, Secrets) else Secrets(backend, **options)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **options: Any) -> AsyncSecrets:
        return cls(Secrets.from_env(environ, **options))

    @property
    def namespace(self) -> Namespace:
        return self.sync.namespace

    async def _run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        import asyncio  # lazy: keeps `import sekret` light

        return await asyncio.to_thread(fn, *args, **kwargs)

    async def get_secret(
        self, name: str, *, version: str | None = None, stage: str | None = None
    ) -> Secret:
        s = self.sync
        full, version, stage, field = s._target(name, version, stage, None)
        if field is not None:
            raise InvalidReference(
                f"get_secret returns the whole secret; read field {field!r} with get or get_json"
            )
        return await self._aread(full, version, stage)

    async def _aread(self, full: str, version: str | None, stage: str | None) -> Secret:
        s = self.sync
        if s.cache is None:
            return await self._run(s.backend.read, full, version=version, stage=stage)
        secret = await s.cache.aget(full, version=version, stage=stage)
        if s._on_read is not None:
            s._on_read(full, secret.version, stage)
        return secret

    async def get(
        self,
        name: str,
        version: str | None = None,
        stage: str | None = None,
        field: str | None = None,
    ) -> str:
        """``Secrets.get``, awaited: a plain cache hit is answered in the loop, else a thread."""
        s = self.sync
        if version is None and stage is None and field is None:
            # Secrets.get's hot path, written out again: a call would cost as much as the hit.
            # A plain hit only; anything else takes the path below (never blocks the loop).
            try:
                entry = s._hot[name]
            except KeyError:
                entry = None
            if entry is not None:
                clock = s._hot_clock
                now = clock()
                if now < entry.refresh_at:
                    entry.used = now
                    hits = entry.hits
                    if hits == entry.drained:
                        entry.first = now
                    entry.hits = hits + 1
                    text: str | None = entry.text
                    if text is None:
                        text = entry.text = entry.secret.value.text()
                    return text
        full, version, stage, field = s._target(name, version, stage, field)
        return s._as_text(await self._aread(full, version, stage), field)

    async def get_bytes(
        self,
        name: str,
        *,
        version: str | None = None,
        stage: str | None = None,
        field: str | None = None,
    ) -> bytes:
        full, version, stage, field = self.sync._target(name, version, stage, field)
        return self.sync._as_bytes(await self._aread(full, version, stage), field)

    async def get_json(
        self,
        name: str,
        *,
        version: str | None = None,
        stage: str | None = None,
        field: str | None = None,
    ) -> Any:
        full, version, stage, field = self.sync._target(name, version, stage, field)
        return self.sync._as_json(await self._aread(full, version, stage), field)

    async def get_many(self, names: Sequence[str]) -> dict[str, Secret | SekretError]:
        return await self._run(self.sync.get_many, names)

    async def prefetch(self, names: Sequence[str]) -> dict[str, Secret | SekretError]:
        return await self._run(self.sync.prefetch, names)

    async def put(self, name: str, value: object, **options: Any) -> Secret:
        return await self._run(self.sync.put, name, value, **options)

    async def put_many(
        self, values: Mapping[str, object], **options: Any
    ) -> dict[str, Secret | SekretError]:
        return await self._run(self.sync.put_many, values, **options)

    async def versions(self, name: str) -> list[VersionInfo]:
        return await self._run(self.sync.versions, name)

    async def list(self, prefix: str = "", *, include_deleted: bool = False) -> list[SecretInfo]:
        return await self._run(
            lambda: list(self.sync.list(prefix, include_deleted=include_deleted))
        )

    async def move_stage(self, name: str, stage: str, version: str | None, **options: Any) -> None:
        await self._run(self.sync.move_stage, name, stage, version, **options)

    async def promote(self, name: str) -> VersionInfo:
        return await self._run(self.sync.promote, name)

    async def rollback(self, name: str, to_version: str | None = None) -> VersionInfo:
        return await self._run(self.sync.rollback, name, to_version)

    async def delete(self, name: str, *, recovery_days: int = DEFAULT_RECOVERY_DAYS) -> datetime:
        return await self._run(self.sync.delete, name, recovery_days=recovery_days)

    async def restore(self, name: str) -> None:
        await self._run(self.sync.restore, name)

    async def destroy(self, name: str) -> None:
        await self._run(self.sync.destroy, name)

    async def refresh(self, name: str) -> Secret:
        return await self._run(self.sync.refresh, name)

    def invalidate(self, name: str) -> None:
        self.sync.invalidate(name)

    async def lease(self, name: str, **options: Any) -> Lease:
        """``Secrets.lease`` from async code (issuing runs in a worker thread)."""
        return await self._run(self.sync.lease, name, **options)

    async def aclose(self) -> None:
        await self._run(self.sync.close)

    async def __aenter__(self) -> AsyncSecrets:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"<AsyncSecrets {self.sync.namespace.root} via {self.sync.backend.describe()}>"
