"""``memory://``: an in-process backend with the full contract.

It is the reference implementation of the semantics in ``backends.base``
and the test double for everything above the backend layer. Nothing is
persisted; every ``memory://`` URL builds a fresh, empty store unless a
``store`` name is given (``memory://shared``) - then the same process shares it.

``clock`` (a callable returning an aware UTC datetime) is injectable so
recovery windows are tested without waiting.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Mapping

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
    DEFAULT_RECOVERY_DAYS,
    Backend,
    Capability,
    check_expected_version,
    check_page_size,
    check_stage_holder,
    move_label,
    token_reused,
    utcnow,
)
from sekret.exceptions import (
    ConfigurationError,
    InvalidValue,
    SecretDeleted,
    SecretNotFound,
    VersionNotFound,
)

# typing, dataclasses and datetime are not loaded for `Secrets("memory://")` (import cost):
# datetime loads with the first write (utcnow), timedelta with the first delete.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from datetime import datetime
    from typing import Any, ClassVar

__all__ = ["MemoryBackend"]

_STORE_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/"

Clock = Callable[[], "datetime"]


class _Version:
    __slots__ = ("created", "metadata", "token", "value", "version")

    def __init__(
        self,
        version: str,
        value: SecretValue,
        created: datetime,
        token: str | None,
        metadata: dict[str, str],
    ) -> None:
        self.version = version
        self.value = value
        self.created = created
        self.token = token
        self.metadata = metadata


class _Entry:
    __slots__ = ("counter", "created", "purge_at", "stages", "updated", "versions")

    def __init__(self, created: datetime | None = None) -> None:
        self.versions: dict[str, _Version] = {}
        self.stages: dict[str, str] = {}  # stage -> version
        self.counter = 0
        self.created = created
        self.updated: datetime | None = None
        self.purge_at: datetime | None = None


_SHARED: dict[str, dict[str, _Entry]] = {}
_SHARED_LOCK = threading.Lock()


class MemoryBackend(Backend):
    """A thread-safe in-memory store; versions are "1", "2", ..."""

    scheme: ClassVar[str] = "memory"
    capabilities = Capability.full()

    def __init__(self, *, store: str | None = None, clock: Clock = utcnow) -> None:
        self._clock = clock
        self._lock = threading.RLock()
        self._store_name = store
        if store:
            with _SHARED_LOCK:
                self._data = _SHARED.setdefault(store, {})
        else:
            self._data = {}

    @classmethod
    def from_url(cls, url: str, **options: Any) -> MemoryBackend:
        # netloc + path of the URL, without loading urllib.parse (see the imports above)
        rest = url.partition(":")[2].removeprefix("//")
        rest = rest.split("#", 1)[0].split("?", 1)[0].strip("/")
        if rest.strip(_STORE_CHARS):
            raise ConfigurationError(
                "memory:// URL is malformed: it takes an optional store name of letters,"
                " digits, '.', '_', '-' and '/' (memory://shared); the URL has other characters"
            )
        return cls(store=rest or None, **options)

    def describe(self) -> str:
        return f"memory://{self._store_name or ''}"

    # -- internals ---------------------------------------------------------
    def _live(self, name: str) -> _Entry:
        validate_name(name)
        entry = self._data.get(name)
        if entry is None:
            raise SecretNotFound(f"secret {name!r} not found", name=name, backend=self.describe())
        if entry.purge_at is not None:
            if self._clock() >= entry.purge_at:
                del self._data[name]
                raise SecretNotFound(
                    f"secret {name!r} not found", name=name, backend=self.describe()
                )
            raise SecretDeleted(
                f"secret {name!r} is scheduled for deletion on {entry.purge_at:%Y-%m-%d}",
                name=name,
                backend=self.describe(),
                recoverable_until=entry.purge_at,
            )
        return entry

    def _secret(self, name: str, entry: _Entry, v: _Version) -> Secret:
        stages = frozenset(s for s, ver in entry.stages.items() if ver == v.version)
        return Secret(name, v.version, v.value, stages, v.created, v.metadata)

    # -- reads -------------------------------------------------------------
    def read(self, name: str, *, version: str | None = None, stage: str | None = None) -> Secret:
        with self._lock:
            entry = self._live(name)
            if version is None:
                wanted = validate_stage(stage or CURRENT)
                version = entry.stages.get(wanted)
                if version is None:
                    raise VersionNotFound(
                        f"secret {name!r} has no version in stage {wanted!r}",
                        name=name,
                        backend=self.describe(),
                    )
            v = entry.versions.get(version)
            if v is None or (stage is not None and entry.stages.get(stage) != version):
                raise VersionNotFound(
                    f"secret {name!r} has no version {version!r}"
                    + (f" in stage {stage!r}" if stage else ""),
                    name=name,
                    version=version,
                    backend=self.describe(),
                )
            return self._secret(name, entry, v)

    def versions(self, name: str) -> list[VersionInfo]:
        with self._lock:
            entry = self._live(name)
            return [self._secret(name, entry, v).info for v in entry.versions.values()]

    def list(
        self,
        prefix: str = "",
        *,
        page_size: int = 100,
        page_token: str | None = None,
        include_deleted: bool = False,
    ) -> Page:
        check_page_size(page_size)
        with self._lock:
            now = self._clock()
            names = [
                n
                for n, e in self._data.items()
                if n.startswith(prefix)
                and (include_deleted or e.purge_at is None)
                and not (e.purge_at is not None and now >= e.purge_at)
            ]
            return Page.after(
                names,
                lambda n: self._info(n, self._data[n]),
                page_token=page_token,
                page_size=page_size,
            )

    def _info(self, name: str, e: _Entry) -> SecretInfo:
        return SecretInfo(
            name,
            created=e.created,
            updated=e.updated,
            current_version=e.stages.get(CURRENT),
            deleted=e.purge_at is not None,
            recoverable_until=e.purge_at,
        )

    # -- writes ------------------------------------------------------------
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
        stage_set = {validate_stage(s) for s in stages}
        value = SecretValue.of(value, max_bytes=self.max_value_bytes)
        with self._lock:
            entry = self._data.get(name)
            if entry is not None and entry.purge_at is not None:
                self._live(name)  # raises SecretDeleted (or purges)
                entry = self._data.get(name)
            current = entry.stages.get(CURRENT) if entry else None
            check_expected_version(
                name,
                expected_version,
                exists=entry is not None,
                current=current,
                backend=self.describe(),
            )
            if entry is not None and token is not None:
                for v in entry.versions.values():
                    if v.token == token:
                        if v.value != value:
                            raise token_reused(name, v.version, backend=self.describe())
                        return self._secret(name, entry, v).info
            now = self._clock()
            if entry is None:
                entry = self._data[name] = _Entry(created=now)
            entry.counter += 1
            v = _Version(str(entry.counter), value, now, token, dict(metadata or {}))
            entry.versions[v.version] = v
            entry.updated = now
            for stage in stage_set:
                move_label(entry.stages, stage, v.version)
            return self._secret(name, entry, v).info

    def move_stage(
        self,
        name: str,
        stage: str,
        version: str | None,
        *,
        expected_version: str | None = None,
    ) -> None:
        validate_stage(stage)
        with self._lock:
            entry = self._live(name)
            if version is not None and version not in entry.versions:
                raise VersionNotFound(
                    f"secret {name!r} has no version {version!r}",
                    name=name,
                    version=version,
                    backend=self.describe(),
                )
            check_stage_holder(
                name, stage, entry.stages.get(stage), expected_version, backend=self.describe()
            )
            if stage == CURRENT and version is None:
                raise InvalidValue("the current stage cannot be removed, only moved")
            move_label(entry.stages, stage, version)
            entry.updated = self._clock()

    def delete(self, name: str, *, recovery_days: int = DEFAULT_RECOVERY_DAYS) -> datetime:
        if not 1 <= recovery_days <= 365:
            raise InvalidValue(f"recovery_days must be 1-365, not {recovery_days}")
        with self._lock:
            entry = self._live(name)
            from datetime import timedelta  # lazy: see TYPE_CHECKING above

            entry.purge_at = self._clock() + timedelta(days=recovery_days)
            return entry.purge_at

    def restore(self, name: str) -> None:
        validate_name(name)
        with self._lock:
            entry = self._data.get(name)
            if entry is None or entry.purge_at is None:
                self._live(name)  # not found -> raises; live -> nothing to restore
                return
            if self._clock() >= entry.purge_at:
                del self._data[name]
                raise SecretNotFound(
                    f"secret {name!r} not found (its recovery window has ended)",
                    name=name,
                    backend=self.describe(),
                )
            entry.purge_at = None

    def destroy(self, name: str) -> None:
        validate_name(name)
        with self._lock:
            if self._data.pop(name, None) is None:
                raise SecretNotFound(
                    f"secret {name!r} not found", name=name, backend=self.describe()
                )
