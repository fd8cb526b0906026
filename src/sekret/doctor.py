"""``sekret doctor``: the security checklist, as checks a machine can run.

``run_checks`` loads the project's manifest and runs each check below; every
check is a small function returning one ``CheckResult`` (id, title, status
``pass|warn|fail|skip``, detail, fix hint, findings). docs/security-checklist.md
gives each check's rationale.

=====================  =========================================================
``manifest``           the manifest loads (file, key path and reason otherwise)
``file-permissions``   key and store files are 0600 and ours, in folders only we can write
``key-files-ignored``  no key file git would commit; local stores ignored too
``dotenv-committed``   no ``.env`` file git would commit
``values-in-source``   no current secret value in a file git tracks or would add
``production-backend`` production uses a secrets manager, not env:// or local://
``production-read-only`` production clients are read-only
``production-audit``   production has audit sinks
``rotation-schedules`` api_key, db_credentials, encryption_key secrets rotate in time
``rotation-overdue``   no scheduled rotation is overdue (or stuck pending)
``secrets-exist``      every declared secret exists in the active environment
``cache-settings``     cache ttl at most 1 hour, max_stale at most 24 hours
``master-key-env``     no SEKRET_MASTER_KEY in the environment outside development
``expiry``             no declared secret has expired or expires within 30 days
``environment-reuse``  run for production: no production value is also stored in
                       another environment (``sekret.ops.diff``, keyed hashes)
=====================  =========================================================

Git questions go to the ``git`` command (``check-ignore``, ``ls-files``) when it
is installed; without it the git checks are skipped, not guessed.

Secret values are read only to be compared in memory (``values-in-source``).
This module must never print, log, return or put a value in a result or an
error: findings name files, lines and secret names only.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal
from urllib.parse import parse_qsl, unquote, urlsplit

from sekret import Secret, Secrets, SecretValue
from sekret._files import check_folder
from sekret._names import is_production
from sekret.backends.base import Backend
from sekret.exceptions import (
    ConfigurationError,
    InsecurePath,
    SecretDeleted,
    SecretExpired,
    SecretNotFound,
    SekretError,
)
from sekret.manifest import EnvironmentConfig, Manifest, find_manifest, load_manifest

if TYPE_CHECKING:
    from sekret.rotation.schedule import RotationPlan

__all__ = [
    "CHECKS",
    "CheckResult",
    "Project",
    "is_development",
    "is_production",
    "run_checks",
]

Status = Literal["pass", "warn", "fail", "skip"]

MAX_TTL: Final = 3600.0
MAX_LEASE_TTL: Final = 86400.0
"""The longest ``max_ttl`` a dynamic secret may declare (one day)."""
MAX_STALE: Final = 86400.0
DEFAULT_TTL: Final = 300.0
DEFAULT_STALE: Final = 3600.0
EXPIRY_DAYS: Final = 30
"""``expiry`` warns about secrets expiring within this many days."""
MIN_SCANNED_VALUE: Final = 8
"""Values shorter than this are not searched for (they match too much by chance)."""
MAX_SCANNED_FILE: Final = 1024 * 1024
ROTATED_KINDS: Final = ("api_key", "db_credentials", "encryption_key")
_DEVELOPMENT: Final = frozenset({"development", "dev", "local", "test", "testing", "ci"})
_TEMPLATE_SUFFIXES: Final = (".example", ".sample", ".template", ".dist", ".defaults")
_GIT_TIMEOUT: Final = 30.0


def is_development(environment: str) -> bool:
    """``development``, ``dev``, ``local``, ``test``, ``testing`` and ``ci``."""
    return environment.lower() in _DEVELOPMENT


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One check's outcome; never holds a value."""

    id: str
    title: str
    status: Status
    detail: str = ""
    fix: str = ""
    findings: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "fix": self.fix,
            "findings": list(self.findings),
        }


# -- git ----------------------------------------------------------------------


class Git:
    """The few questions doctor asks git, through the ``git`` command."""

    def __init__(self, root: Path) -> None:
        self.root = root  # the project folder (inside a work tree)
        self._env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
        self._files: list[Path] | None = None
        self._top: Path | None = None

    @classmethod
    def find(cls, folder: Path) -> Git | None:
        """A helper for the work tree holding ``folder``; None without git or a work tree."""
        if shutil.which("git") is None:
            return None
        git = cls(folder)
        done = git._run("rev-parse", "--is-inside-work-tree")
        if done is None or done.returncode != 0 or done.stdout.strip() != b"true":
            return None
        top = git._run("rev-parse", "--show-toplevel")
        if top is None or top.returncode != 0:
            return None
        git._top = Path(os.fsdecode(top.stdout.strip())).resolve()
        return git

    def _run(self, *args: str) -> subprocess.CompletedProcess[bytes] | None:
        try:
            return subprocess.run(
                ["git", "-C", str(self.root), *args],
                capture_output=True,
                timeout=_GIT_TIMEOUT,
                env=self._env,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            return None

    def would_commit(self, path: Path) -> bool:
        """Whether ``path`` is tracked, or untracked and not ignored (``git add`` takes it)."""
        done = self._run("ls-files", "--error-unmatch", "--", str(path))
        if done is not None and done.returncode == 0:
            return True
        done = self._run("check-ignore", "-q", "--", str(path))
        return done is not None and done.returncode == 1

    def inside(self, path: Path) -> bool:
        """Whether ``path`` lies inside this work tree."""
        return self._top is not None and path.resolve().is_relative_to(self._top)

    def files(self) -> list[Path]:
        """Files under the project that are tracked, or untracked and not ignored."""
        if self._files is None:
            done = self._run("ls-files", "-z", "--cached", "--others", "--exclude-standard")
            names = [] if done is None or done.returncode != 0 else done.stdout.split(b"\0")
            self._files = sorted({self.root / os.fsdecode(n) for n in names if n})
        return self._files


# -- the project --------------------------------------------------------------


@dataclass
class Project:
    """What the checks look at; built once by ``run_checks``."""

    root: Path
    manifest_path: Path | None
    manifest: Manifest | None
    manifest_error: str | None
    environment: str | None
    environ: Mapping[str, str]
    now: Callable[[], datetime]
    backend: str | Backend | None = None
    git: Git | None = None
    _client: Secrets | None = None
    _client_error: SekretError | None = None
    _reads: dict[str, Secret | SekretError] | None = field(default=None, repr=False)

    def client(self) -> Secrets | None:
        """A read-only client for the active environment (None: see ``client_error``)."""
        if self._client is None and self._client_error is None:
            try:
                self._client = self._build_client()
            except SekretError as exc:
                self._client_error = exc
        return self._client

    @property
    def client_error(self) -> SekretError | None:
        return self._client_error

    def _build_client(self) -> Secrets:
        if self.manifest is None or self.environment is None:
            raise ConfigurationError("no usable manifest or environment")
        if self.backend is not None:
            return Secrets(
                self.backend,
                app=self.manifest.app,
                environment=self.environment,
                cache=False,
                read_only=True,
            )
        # Read-only checks never open the app's audit sinks (/var/log/... on a CI runner).
        args = self.manifest.client_arguments(
            self.environment, cache=False, read_only=True, audit=None
        )
        return Secrets(**args)

    def reads(self) -> dict[str, Secret | SekretError]:
        """The current version of every declared secret (short name -> secret or error)."""
        if self._reads is None:
            client = self.client()
            if client is None or self.manifest is None:
                self._reads = {}
            else:
                static = [n for n, spec in self.manifest.secrets.items() if spec.kind != "dynamic"]
                self._reads = client.get_many(static)  # dynamic ones are issued, not stored
        return self._reads

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        self._reads = None


# -- checks -------------------------------------------------------------------

Check = Callable[[Project], CheckResult]


def _result(
    check_id: str, status: Status, detail: str, fix: str = "", findings: Iterable[str] = ()
) -> CheckResult:
    return CheckResult(check_id, TITLES[check_id], status, detail, fix, tuple(findings))


NO_MANIFEST_FIX: Final = (
    'create sekret.toml in the project root: app = "NAME", then'
    ' [environments.development] backend = "local://.sekret/secrets.db"'
    " (sekret init creates that store; docs/manifest.md), or pass --manifest PATH"
)


def check_manifest(project: Project) -> CheckResult:
    """The manifest loads; else its file, line, key path and reason."""
    if project.manifest_error is not None and project.manifest_path is None:
        return _result("manifest", "fail", project.manifest_error, NO_MANIFEST_FIX)
    if project.manifest_error is not None:
        return _result(
            "manifest",
            "fail",
            project.manifest_error,
            "fix the key named in the message (docs/manifest.md lists every key)",
        )
    where = project.manifest_path or "<manifest>"
    count = len(project.manifest.secrets) if project.manifest else 0
    env = f", environment {project.environment}" if project.environment else ""
    return _result("manifest", "pass", f"{where}: {count} secrets declared{env}")


def _local_files(project: Project) -> tuple[list[Path], list[Path]]:
    """(key files, store files) of every local:// backend the project names."""
    keys: list[Path] = []
    stores: list[Path] = []
    urls = [e.backend for e in project.manifest.environments.values()] if project.manifest else []
    if isinstance(project.backend, str):
        urls.append(project.backend)
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme.lower() != "local":
            continue
        db = Path(unquote(parts.netloc + parts.path)).expanduser()
        db = db if db.is_absolute() else project.root / db
        stores += [db, Path(f"{db}-wal"), Path(f"{db}-shm")]
        query = dict(parse_qsl(parts.query))
        keys.append(
            Path(query["key_file"]).expanduser() if query.get("key_file") else Path(f"{db}.key")
        )
    default = project.root / ".sekret" / "secrets.db"
    stores += [default, Path(f"{default}-wal"), Path(f"{default}-shm")]
    keys.append(Path(f"{default}.key"))
    for variable in ("SEKRET_KEY_FILE", "SEKRET_BACKUP_KEY_FILE"):
        if project.environ.get(variable):
            keys.append(Path(project.environ[variable]).expanduser())
    return _existing(keys), _existing(stores)


def _existing(paths: Iterable[Path]) -> list[Path]:
    seen: dict[Path, None] = {}
    for path in paths:
        if path.is_file():
            seen.setdefault(path.absolute(), None)
    return list(seen)


def check_file_permissions(project: Project) -> CheckResult:
    """Key files and local store files give nobody else access and are ours."""
    keys, stores = _local_files(project)
    if not keys and not stores:
        return _result("file-permissions", "skip", "no key file or local store found")
    uid = os.getuid() if hasattr(os, "getuid") else None
    findings = []
    folders: dict[Path, str] = {}
    for path in [*keys, *stores]:
        st = path.stat()
        mode = stat.S_IMODE(st.st_mode)
        if mode & 0o077:
            findings.append(f"{path}: mode {mode:04o}, group or others have access")
        if uid is not None and st.st_uid not in (uid, 0):
            findings.append(f"{path}: owned by uid {st.st_uid}, not by you ({uid}) or root")
        folders.setdefault(path.parent, "key file" if path in keys else "store")
    for folder, what in folders.items():
        try:
            check_folder(folder, what=what)
        except InsecurePath as exc:
            findings.append(str(exc))
    if findings:
        return _result(
            "file-permissions",
            "fail",
            f"{len(findings)} file(s) or folder(s) others could read, write or swap",
            "chmod 600 FILE, chmod go-w FOLDER (or move the store to a folder only you"
            " can write), and chown both to the user that runs the app",
            findings,
        )
    return _result(
        "file-permissions",
        "pass",
        f"{len(keys)} key file(s), {len(stores)} store file(s): 0600, yours",
    )


def _looks_like_key(path: Path) -> bool:
    """A small file holding the urlsafe base64 of 32 bytes (a sekret key file)."""
    from sekret import _sealing

    try:
        if path.stat().st_size > 200:
            return False
        _sealing.decode_key(path.read_bytes(), source=str(path))
    except (OSError, ConfigurationError):
        return False
    return True


def check_key_files_ignored(project: Project) -> CheckResult:
    """No key file (nor, as a warning, store file) that git would commit."""
    git = project.git
    if git is None:
        return _result("key-files-ignored", "skip", "not inside a git work tree (or no git)")
    keys, stores = _local_files(project)
    committed_keys = [p for p in keys if git.inside(p) and git.would_commit(p)]
    known = set(committed_keys)
    committed_keys += [
        p for p in git.files() if p.suffix == ".key" and p not in known and _looks_like_key(p)
    ]
    if committed_keys:
        return _result(
            "key-files-ignored",
            "fail",
            f"{len(committed_keys)} key file(s) git would commit",
            "add them to .gitignore (git rm --cached FILE if tracked), then replace the"
            " leaked key and the data key it opens: sekret rotate-master-key --reencrypt",
            [str(p) for p in committed_keys],
        )
    committed_stores = [p for p in stores if git.inside(p) and git.would_commit(p)]
    if committed_stores:
        return _result(
            "key-files-ignored",
            "warn",
            f"{len(committed_stores)} local store file(s) git would commit",
            "add the store (and its -wal/-shm files) to .gitignore",
            [str(p) for p in committed_stores],
        )
    return _result(
        "key-files-ignored",
        "pass",
        f"{len(keys)} key file(s), {len(stores)} store file(s): none committable",
    )


def _is_dotenv(path: Path) -> bool:
    name = path.name.lower()
    if name.endswith(_TEMPLATE_SUFFIXES):
        return False
    return name == ".env" or name.startswith(".env.") or name.endswith(".env")


def check_dotenv_committed(project: Project) -> CheckResult:
    """No .env file that git would commit (templates excepted)."""
    git = project.git
    if git is None:
        return _result("dotenv-committed", "skip", "not inside a git work tree (or no git)")
    found = [str(p.relative_to(project.root)) for p in git.files() if _is_dotenv(p)]
    if found:
        return _result(
            "dotenv-committed",
            "fail",
            f"{len(found)} .env file(s) git would commit",
            "add .env* to .gitignore (git rm --cached FILE if tracked); commit a .env.example"
            " without values; rotate every secret a committed file held",
            found,
        )
    return _result("dotenv-committed", "pass", "no .env file is tracked or committable")


def _needles(value: SecretValue) -> list[bytes]:
    """The byte strings to search for: the value, and each long string inside JSON."""
    out = [value.bytes()]
    if value.kind == "json":
        stack: list[Any] = [value.json()]
        while stack:
            item = stack.pop()
            if isinstance(item, dict):
                stack.extend(item.values())
            elif isinstance(item, list):
                stack.extend(item)
            elif isinstance(item, str):
                out.append(item.encode("utf-8"))
    return [n for n in out if len(n) >= MIN_SCANNED_VALUE]


def _scan(files: Iterable[Path], needles: Mapping[str, list[bytes]], root: Path) -> Iterator[str]:
    for path in files:
        try:
            if not path.is_file() or path.stat().st_size > MAX_SCANNED_FILE:
                continue
            data = path.read_bytes()
        except OSError:
            continue
        if b"\0" in data[:8192]:
            continue  # binary
        for name, candidates in needles.items():
            for needle in candidates:
                at = data.find(needle)
                if at >= 0:
                    line = data.count(b"\n", 0, at) + 1
                    yield f"{path.relative_to(root)}:{line} (secret {name})"
                    break


def check_values_in_source(project: Project) -> CheckResult:
    """No current secret value in a file git tracks or would add."""
    git = project.git
    if git is None:
        return _result("values-in-source", "skip", "not inside a git work tree (or no git)")
    if project.manifest is None or not project.manifest.secrets:
        return _result("values-in-source", "skip", "no declared secrets")
    reads = project.reads()
    needles = {name: _needles(got.value) for name, got in reads.items() if isinstance(got, Secret)}
    needles = {name: n for name, n in needles.items() if n}
    if not needles:
        return _result("values-in-source", "skip", "no secret value readable now to look for")
    findings = list(_scan(git.files(), needles, project.root))
    if findings:
        return _result(
            "values-in-source",
            "fail",
            f"{len(findings)} file(s) hold a current secret value",
            "remove the value from the file (and from git history), then rotate the secret:"
            " sekret rotate NAME",
            findings,
        )
    return _result(
        "values-in-source",
        "pass",
        f"{len(needles)} value(s) looked for in {len(git.files())} file(s): none found",
    )


def _production(project: Project) -> list[EnvironmentConfig]:
    if project.manifest is None:
        return []
    return [e for e in project.manifest.environments.values() if is_production(e.name)]


def check_production_backend(project: Project) -> CheckResult:
    """Production reads from a secrets manager, not env:// or local://."""
    envs = _production(project)
    if not envs:
        return _result("production-backend", "skip", "no production environment declared")
    weak = [
        f"{e.name}: {e.backend.split('://', 1)[0]}://"
        for e in envs
        if e.backend.split("://", 1)[0].split("+", 1)[0].lower() in ("env", "local")
    ]
    if weak:
        return _result(
            "production-backend",
            "warn",
            "production reads secrets from env:// or local://",
            "use a secrets manager (vault, aws, azure, gcp), or accept it with a reason:"
            " sekret doctor --accept production-backend='why'",
            weak,
        )
    return _result(
        "production-backend",
        "pass",
        ", ".join(f"{e.name}: {e.backend.split('://', 1)[0]}" for e in envs),
    )


def check_production_read_only(project: Project) -> CheckResult:
    """Production clients are built read-only."""
    envs = _production(project)
    if not envs:
        return _result("production-read-only", "skip", "no production environment declared")
    writable = [e.name for e in envs if not e.read_only]
    if writable:
        return _result(
            "production-read-only",
            "warn",
            "production clients may write",
            "set read_only = true under [environments.<name>]; rotate with an admin client",
            writable,
        )
    return _result("production-read-only", "pass", "read_only = true")


def check_production_audit(project: Project) -> CheckResult:
    """Production environments declare audit sinks."""
    envs = _production(project)
    if not envs:
        return _result("production-audit", "skip", "no production environment declared")
    silent = [e.name for e in envs if not e.audit]
    if silent:
        return _result(
            "production-audit",
            "warn",
            "production has no audit sink",
            'add audit = ["jsonl:///var/log/APP/audit.jsonl"] (or a SIEM sink)',
            silent,
        )
    return _result(
        "production-audit", "pass", ", ".join(f"{e.name}: {len(e.audit)} sink(s)" for e in envs)
    )


def _plans(project: Project) -> list[RotationPlan]:
    from sekret.rotation.schedule import RotationPlan

    if project.manifest is None:
        return []
    return [
        RotationPlan(s.name, s.kind, s.rotation_days, s.rotator)
        for s in project.manifest.secrets.values()
    ]


def check_rotation_schedules(project: Project) -> CheckResult:
    """Credentials have a schedule no longer than their kind's interval."""
    from sekret.rotation.schedule import DEFAULT_INTERVAL_DAYS

    plans = [p for p in _plans(project) if p.kind in ROTATED_KINDS]
    if not plans:
        return _result(
            "rotation-schedules",
            "skip",
            "no api_key, db_credentials or encryption_key secret declared",
        )
    unscheduled = [p.name for p in plans if p.interval is None]
    if unscheduled:
        return _result(
            "rotation-schedules",
            "fail",
            "credentials without a rotation schedule",
            "set rotation_days under [secrets.<name>]",
            unscheduled,
        )
    slow = []
    for plan in plans:
        guide = DEFAULT_INTERVAL_DAYS.get(plan.kind)
        days = plan.interval.days if plan.interval else None
        if guide and days and days > guide:
            slow.append(f"{plan.name}: every {days} days ({plan.kind}: at most {guide})")
    if slow:
        return _result(
            "rotation-schedules",
            "warn",
            "schedules longer than the kind's interval",
            "lower rotation_days, or accept it: --accept rotation-schedules='why'",
            slow,
        )
    return _result("rotation-schedules", "pass", f"{len(plans)} credential(s) scheduled")


def check_rotation_overdue(project: Project) -> CheckResult:
    """No scheduled rotation is overdue or left pending."""
    from sekret.rotation.schedule import rotation_status

    plans = [p for p in _plans(project) if p.interval is not None]
    if not plans:
        return _result("rotation-overdue", "skip", "no scheduled secret")
    client = project.client()
    if client is None:
        return _result("rotation-overdue", "skip", f"no client: {project.client_error}")
    rows = rotation_status(client, plans, now=project.now)
    overdue = [f"{r.name}: due {r.next_due:%Y-%m-%d}" for r in rows if r.overdue and r.next_due]
    pending = [f"{r.name}: a pending version waits" for r in rows if r.pending]
    if overdue:
        return _result(
            "rotation-overdue",
            "fail",
            f"{len(overdue)} rotation(s) overdue",
            "sekret rotate --due (or sekret rotate NAME)",
            overdue + pending,
        )
    if pending:
        return _result(
            "rotation-overdue",
            "warn",
            "a rotation was started and not finished",
            "sekret rotate NAME resumes it; sekret rotate NAME --rollback abandons it",
            pending,
        )
    stored = [r for r in rows if not r.missing]
    if not stored:
        return _result("rotation-overdue", "skip", "no scheduled secret is stored yet")
    unstored = len(rows) - len(stored)
    note = f"; {unstored} not stored (see secrets-exist)" if unstored else ""
    return _result("rotation-overdue", "pass", f"{len(stored)} schedule(s) on time{note}")


def check_secrets_exist(project: Project) -> CheckResult:
    """Every declared secret reads in the active environment."""
    if project.manifest is None or not project.manifest.secrets:
        return _result("secrets-exist", "skip", "no declared secrets")
    client = project.client()
    if client is None:
        return _result(
            "secrets-exist",
            "fail",
            f"cannot open the backend: {project.client_error}",
            "check the environment's backend URL and credentials",
        )
    findings = []
    for name, got in project.reads().items():
        if isinstance(got, SecretDeleted):
            findings.append(f"{name}: deleted (sekret restore {name})")
        elif isinstance(got, SecretNotFound):
            findings.append(f"{name}: missing")
        elif isinstance(got, SekretError):
            findings.append(f"{name}: {got.code}: {got}")
    where = f"{client.namespace.root} via {client.backend.describe()}"
    if findings:
        return _result(
            "secrets-exist",
            "fail",
            f"{len(findings)} of {len(project.manifest.secrets)} unreadable in {where}",
            "sekret put NAME (or restore a backup) in this environment",
            findings,
        )
    return _result("secrets-exist", "pass", f"{len(project.manifest.secrets)} present in {where}")


def check_cache_settings(project: Project) -> CheckResult:
    """Cache ttl and max_stale are bounded in every environment."""
    if project.manifest is None:
        return _result("cache-settings", "skip", "no manifest")
    long_ttl, long_stale = [], []
    for env in project.manifest.environments.values():
        ttl = DEFAULT_TTL if env.cache_ttl is None else env.cache_ttl
        stale = DEFAULT_STALE if env.max_stale is None else env.max_stale
        if ttl > MAX_TTL:
            long_ttl.append(f"{env.name}: cache_ttl {ttl:g}s > {MAX_TTL:g}s")
        if stale > MAX_STALE:
            long_stale.append(f"{env.name}: max_stale {stale:g}s > {MAX_STALE:g}s")
    fix = (
        f"cache_ttl <= {MAX_TTL:g} (a rotated value reaches every process within it),"
        f" max_stale <= {MAX_STALE:g}"
    )
    if long_ttl:
        return _result("cache-settings", "fail", "cache ttl too long", fix, long_ttl + long_stale)
    if long_stale:
        return _result("cache-settings", "warn", "max_stale too long", fix, long_stale)
    return _result("cache-settings", "pass", "ttl and max_stale bounded in every environment")


def check_master_key_env(project: Project) -> CheckResult:
    """No SEKRET_MASTER_KEY in the environment outside development."""
    env = project.environment
    if env is None:
        return _result("master-key-env", "skip", "no active environment")
    if not project.environ.get("SEKRET_MASTER_KEY"):
        return _result("master-key-env", "pass", "SEKRET_MASTER_KEY is not set")
    if is_development(env):
        return _result("master-key-env", "pass", f"SEKRET_MASTER_KEY set in {env} (development)")
    return _result(
        "master-key-env",
        "warn",
        f"SEKRET_MASTER_KEY is set in the environment of {env}",
        "give the key as a file (SEKRET_KEY_FILE, mode 0600) or use a secrets manager:"
        " child processes and crash reports inherit the environment",
    )


def check_expiry(project: Project) -> CheckResult:
    """No declared secret's current version has expired or expires within EXPIRY_DAYS."""
    from sekret._expiry import expires_at

    if project.manifest is None or not project.manifest.secrets:
        return _result("expiry", "skip", "no declared secrets")
    if project.client() is None:
        return _result("expiry", "skip", f"no client: {project.client_error}")
    at = project.now()
    expired, soon, dated = [], [], 0
    for name, got in project.reads().items():
        if isinstance(got, SecretExpired):  # a strict_expiry environment refused it
            dated += 1
            expired.append(f"{name}: expired (strict_expiry refuses it)")
            continue
        when = expires_at(got.metadata) if isinstance(got, Secret) else None
        if when is None:
            continue
        dated += 1
        if when <= at:
            expired.append(f"{name}: expired {when:%Y-%m-%d}")
        elif when <= at + timedelta(days=EXPIRY_DAYS):
            soon.append(f"{name}: expires {when:%Y-%m-%d} (in {(when - at).days}d)")
    fix = "rotate it (sekret rotate NAME) or put a new value with a later expires_at"
    if expired:
        return _result("expiry", "fail", f"{len(expired)} secret(s) expired", fix, expired + soon)
    if soon:
        return _result(
            "expiry", "warn", f"{len(soon)} secret(s) expire within {EXPIRY_DAYS} days", fix, soon
        )
    if not dated:
        return _result("expiry", "pass", "no declared secret carries an expiry")
    return _result("expiry", "pass", f"{dated} expiry date(s) more than {EXPIRY_DAYS} days away")


def _environment_client(project: Project, manifest: Manifest, environment: str) -> Secrets:
    """A read-only client for another declared environment (``backend`` overrides all)."""
    if project.backend is not None:
        return Secrets(
            project.backend,
            app=manifest.app,
            environment=environment,
            cache=False,
            read_only=True,
        )
    return Secrets(**manifest.client_arguments(environment, cache=False, read_only=True))


def check_environment_reuse(project: Project) -> CheckResult:
    """Run for production: none of its values is stored in another environment."""
    from sekret.ops.diff import find_reuse  # lazy: only this check compares environments

    env = project.environment
    manifest = project.manifest
    if env is None or manifest is None or not is_production(env):
        return _result(
            "environment-reuse",
            "skip",
            "runs for a production environment (sekret doctor --env production);"
            " sekret diff compares any two",
        )
    others = sorted(n for n in manifest.environments if n != env)
    if not others:
        return _result("environment-reuse", "skip", f"no environment besides {env}")
    client = project.client()
    if client is None:
        return _result("environment-reuse", "skip", f"no client: {project.client_error}")
    reused: list[str] = []
    unread: list[str] = []
    for other in others:
        try:
            with _environment_client(project, manifest, other) as peer:
                reused += [f.detail for f in find_reuse(client, peer)]
        except SekretError as exc:
            unread.append(f"{other}: not compared ({exc.code})")
    if reused:
        return _result(
            "environment-reuse",
            "fail",
            f"{len(reused)} production value(s) also stored elsewhere",
            "rotate the production secret (sekret incident NAME) and give the other"
            " environment its own value",
            reused + unread,
        )
    if unread:
        return _result(
            "environment-reuse",
            "warn",
            "some environments could not be read",
            "run the doctor with credentials that can read every environment",
            unread,
        )
    return _result("environment-reuse", "pass", f"{env} shares no value with {', '.join(others)}")


def check_dynamic_ttls(project: Project) -> CheckResult:
    """Dynamic secrets declare a bounded max TTL; production database passwords could be dynamic."""
    if project.manifest is None or not project.manifest.secrets:
        return _result("dynamic-ttls", "skip", "no declared secrets")
    specs = project.manifest.secrets.values()
    dynamic = [s for s in specs if s.kind == "dynamic"]
    unbounded = [
        f"{s.name}: " + ("no max_ttl" if s.max_ttl is None else f"max_ttl {s.max_ttl:g} s")
        for s in dynamic
        if s.max_ttl is None or s.max_ttl > MAX_LEASE_TTL
    ]
    if unbounded:
        return _result(
            "dynamic-ttls",
            "fail",
            f"{len(unbounded)} dynamic secret(s) without a bounded max TTL",
            f"declare max_ttl (at most {MAX_LEASE_TTL:g} s) and give the engine role the same",
            unbounded,
        )
    static = [s for s in specs if s.kind == "db_credentials"] if _production(project) else []
    if static:  # advice, not a failure: a rotated password is fine, a lease is better
        return _result(
            "dynamic-ttls",
            "pass",
            f"{len(dynamic)} dynamic secret(s); {len(static)} static database password(s) in"
            ' production could be kind = "dynamic" (docs/leases.md)',
            findings=[s.name for s in static],
        )
    return _result("dynamic-ttls", "pass", f"{len(dynamic)} dynamic secret(s), max TTLs bounded")


TITLES: Final[Mapping[str, str]] = {
    "manifest": "Manifest loads",
    "file-permissions": "Key and store files are 0600 and yours",
    "key-files-ignored": "Key files are ignored by git",
    "dotenv-committed": ".env files are not committed",
    "values-in-source": "No secret value in source files",
    "production-backend": "Production uses a secrets manager",
    "production-read-only": "Production clients are read-only",
    "production-audit": "Production has audit sinks",
    "rotation-schedules": "Credentials have rotation schedules",
    "rotation-overdue": "No rotation is overdue",
    "secrets-exist": "Declared secrets exist",
    "cache-settings": "Cache settings are bounded",
    "master-key-env": "No master key in the environment outside development",
    "expiry": "No secret expired or expiring soon",
    "environment-reuse": "Production values are not reused in other environments",
    "dynamic-ttls": "Dynamic secrets have bounded TTLs",
}

CHECKS: Final[tuple[tuple[str, Check], ...]] = (
    ("manifest", check_manifest),
    ("file-permissions", check_file_permissions),
    ("key-files-ignored", check_key_files_ignored),
    ("dotenv-committed", check_dotenv_committed),
    ("values-in-source", check_values_in_source),
    ("production-backend", check_production_backend),
    ("production-read-only", check_production_read_only),
    ("production-audit", check_production_audit),
    ("rotation-schedules", check_rotation_schedules),
    ("rotation-overdue", check_rotation_overdue),
    ("secrets-exist", check_secrets_exist),
    ("cache-settings", check_cache_settings),
    ("master-key-env", check_master_key_env),
    ("expiry", check_expiry),
    ("environment-reuse", check_environment_reuse),
    ("dynamic-ttls", check_dynamic_ttls),
)
"""Every check, in the order it runs."""

_NEEDS_MANIFEST: Final = frozenset(TITLES) - {
    "manifest",
    "file-permissions",
    "key-files-ignored",
    "dotenv-committed",
}


# -- running ------------------------------------------------------------------


def _load(
    manifest: str | os.PathLike[str] | None, start: Path
) -> tuple[Path | None, Manifest | None, str | None]:
    try:
        path = Path(manifest) if manifest is not None else find_manifest(start)
        return path, load_manifest(path, start=start), None
    except SekretError as exc:
        return (Path(manifest) if manifest is not None else None), None, str(exc)


def _run_one(check_id: str, check: Check, project: Project) -> CheckResult:
    if project.manifest is None and check_id in _NEEDS_MANIFEST:
        return _result(check_id, "skip", "the manifest did not load")
    try:
        return check(project)
    except SekretError as exc:  # messages are value-free by contract
        return _result(check_id, "fail", f"{exc.code}: {exc}")
    except Exception as exc:  # noqa: BLE001  # a broken check must not hide the others
        return _result(check_id, "fail", f"the check failed unexpectedly ({type(exc).__name__})")


def _accept(result: CheckResult, reasons: Mapping[str, str]) -> CheckResult:
    reason = reasons.get(result.id)
    if reason is None or result.status not in ("warn", "fail"):
        return result
    return CheckResult(
        result.id,
        result.title,
        "skip",
        f"accepted ({reason}); was {result.status}: {result.detail}",
        result.fix,
        result.findings,
    )


def run_checks(
    manifest: str | os.PathLike[str] | None = None,
    *,
    environment: str | None = None,
    root: str | os.PathLike[str] | None = None,
    backend: str | Backend | None = None,
    environ: Mapping[str, str] | None = None,
    now: Callable[[], datetime] | None = None,
    accept: Mapping[str, str] | None = None,
    only: Iterable[str] | None = None,
) -> list[CheckResult]:
    """Run the checklist on a project; one ``CheckResult`` per check, in ``CHECKS`` order.

    ``manifest``: the manifest file (default: found upward from ``root``/cwd).
    ``environment``: the active environment (default: SEKRET_ENV, then the
    manifest's default). ``backend`` overrides its backend URL. ``accept`` maps
    a check id to the reason a warning or failure is accepted: the result is
    reported as ``skip`` with that reason. ``now`` is the clock for rotation.
    """
    env = os.environ if environ is None else environ
    start = Path(root) if root is not None else Path.cwd()
    path, loaded, error = _load(manifest, start)
    folder = Path(root) if root is not None else (path.parent if path else start)
    active = None
    if loaded is not None:
        try:
            active = loaded.environment(environment, environ=env).name
        except SekretError as exc:
            loaded, error = None, str(exc)
    project = Project(
        root=folder.absolute(),
        manifest_path=path,
        manifest=loaded,
        manifest_error=error,
        environment=active,
        environ=env,
        now=now or (lambda: datetime.now(UTC)),
        backend=backend,
        git=Git.find(folder.absolute()),
    )
    wanted = set(only) if only is not None else None
    reasons = {**(loaded.doctor_accept if loaded is not None else {}), **(accept or {})}
    unknown = set(reasons) - set(TITLES)
    if unknown:
        raise ConfigurationError(f"unknown check id(s) {sorted(unknown)}; known: {sorted(TITLES)}")
    try:
        return [
            _accept(_run_one(check_id, check, project), reasons)
            for check_id, check in CHECKS
            if wanted is None or check_id in wanted
        ]
    finally:
        project.close()
