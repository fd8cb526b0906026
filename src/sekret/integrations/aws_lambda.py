"""An AWS Lambda rotation function built on sekret's rotation engine and rotators.

AWS Secrets Manager drives rotation on its own schedule by invoking a Lambda
four times with ``{"SecretId", "ClientRequestToken", "Step"}``;
``RotationHandler`` runs the matching step of sekret's protocol for the
secret, with a sekret ``Rotator`` (``random``, ``api_key``, ``postgres``,
plugins)::

    # lambda_function.py  (environment: SEKRET_APP, SEKRET_ENV, optional SEKRET_ROTATOR)
    from sekret.integrations.aws_lambda import RotationHandler

    handler = RotationHandler()  # or RotationHandler(rotator=make_rotator("postgres", ...))

Steps (the new version's VersionId is the event's ``ClientRequestToken``, as
AWS requires):

* ``createSecret``: if version TOKEN already holds a value (AWSPENDING or
  already AWSCURRENT), nothing to do; else ``rotator.generate(current)`` is
  stored as version TOKEN labelled AWSPENDING (``PutSecretValue`` with the
  token: a retried call cannot make a second version).
* ``setSecret``: ``rotator.set(pending, current)`` (idempotent by the Rotator
  contract).
* ``testSecret``: ``set`` again (idempotent), then ``rotator.test(pending)``.
  If the test fails, ``rotator.revert`` restores the current value on the
  target system and the step raises RotationError; AWSCURRENT never moved,
  so every reader still gets a working value. A retried ``testSecret``
  re-applies ``set`` before testing, so a transient failure can recover.
* ``finishSecret``: AWSCURRENT moves to TOKEN with compare-and-set on the old
  current (AWS labels that one AWSPREVIOUS), then AWSPENDING is removed.

Every step first checks the token against the secret's versions (a token
AWS did not stage is refused; a token already AWSCURRENT makes set, test and
finish no-ops), so each step is idempotent, can be repeated, and a step
invoked out of order fails with a clear RotationError instead of acting.
Steps are recorded like the engine's (``secret.rotate.<step>`` audit events,
the ``sekret.rotation`` logger); nothing here logs or raises with a value.

The client comes from ``Secrets.from_env()`` by default (``SEKRET_BACKEND``
defaults to ``aws://$AWS_REGION``); the secret named by the event must lie in
its namespace (``SEKRET_APP``/``SEKRET_ENV``): environment separation holds
for rotation too. The rotator: the ``rotator`` argument, else the manifest's
``rotator`` for the secret, else ``SEKRET_ROTATOR``, else ``random``.

Values a rotator generates as JSON are stored as JSON text; sekret reads
them back as text (``get_json`` parses them), because the VersionId must be
AWS's token and cannot carry sekret's JSON marker.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from sekret import CURRENT, PENDING, Secret, Secrets, SecretValue
from sekret.exceptions import (
    ConfigurationError,
    Conflict,
    InvalidSecretName,
    RotationError,
    SekretError,
)
from sekret.rotation.engine import RotationEngine, Rotator, Step

__all__ = ["STEPS", "RotationHandler"]

STEPS: Mapping[str, Step] = {
    "createSecret": Step.CREATE,
    "setSecret": Step.SET,
    "testSecret": Step.TEST,
    "finishSecret": Step.FINISH,
}

SecretsSource = Secrets | Callable[[], Secrets]
RotatorSource = Rotator | Callable[[str], Rotator]


def _default_secrets() -> Secrets:
    environ = dict(os.environ)
    region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION")
    if not environ.get("SEKRET_BACKEND") and region:
        environ["SEKRET_BACKEND"] = f"aws://{region}"
    return Secrets.from_env(environ, cache=False)


class RotationHandler:
    """The Lambda entry point: ``handler(event, context)`` runs one rotation step."""

    def __init__(
        self,
        secrets: SecretsSource | None = None,
        rotator: RotatorSource | None = None,
        *,
        on_event: Callable[[Mapping[str, Any]], None] | None = None,
    ) -> None:
        self._secrets_source = secrets
        self._secrets: Secrets | None = secrets if isinstance(secrets, Secrets) else None
        self._rotator = rotator
        self._on_event = on_event

    # -- wiring -----------------------------------------------------------------
    def client(self) -> Secrets:
        """The Secrets client, built once per Lambda container."""
        if self._secrets is None:
            source = self._secrets_source
            self._secrets = source() if callable(source) else _default_secrets()
        return self._secrets

    def rotator_for(self, short: str) -> Rotator:
        """The rotator for a short name (see the module docstring for the order)."""
        if isinstance(self._rotator, Rotator):
            return self._rotator
        if self._rotator is not None:
            return self._rotator(short)
        from sekret.rotation import make_rotator

        name, options = os.environ.get("SEKRET_ROTATOR") or "random", {}
        try:
            from sekret.manifest import find_manifest, load_manifest

            found = find_manifest()
            spec = load_manifest(found).secrets.get(short) if found is not None else None
        except ConfigurationError:
            spec = None
        if spec is not None and spec.rotator:
            name, options = spec.rotator, dict(spec.rotator_options)
        return make_rotator(name, **options)

    # -- the entry point -----------------------------------------------------------
    def __call__(self, event: Mapping[str, Any], context: object = None) -> None:
        step_name = str(event.get("Step"))
        token = event.get("ClientRequestToken")
        secret_id = event.get("SecretId")
        if step_name not in STEPS:
            raise RotationError(f"unknown rotation step {step_name[:40]!r}")
        if not isinstance(token, str) or not token or not isinstance(secret_id, str):
            raise RotationError("the rotation event needs SecretId and ClientRequestToken")
        secrets = self.client()
        engine = RotationEngine(secrets, on_event=self._on_event)
        full = self._full_name(secrets, secret_id)
        step = STEPS[step_name]
        stages = self._stages_of(secrets, full, token)
        if step is Step.CREATE:
            self._create(engine, full, token, stages)
        elif CURRENT in stages:
            return  # this token already finished: set, test and finish have nothing to do
        elif PENDING not in stages:
            raise RotationError(
                f"rotation of {full!r}: version {token} is not pending; run createSecret first",
                name=full,
                version=token,
            )
        elif step is Step.SET:
            self._set(engine, full, token)
        elif step is Step.TEST:
            self._test(engine, full, token)
        else:
            self._finish(engine, full, token)

    # -- helpers ---------------------------------------------------------------------
    def _raw(self, secrets: Secrets) -> Any:
        backend: Any = getattr(secrets.backend, "inner", secrets.backend)
        client = getattr(backend, "client", None)
        if not callable(getattr(client, "call", None)):
            raise ConfigurationError(
                f"the Lambda rotation handler needs the aws backend, not {backend.describe()}"
            )
        return client

    def _full_name(self, secrets: Secrets, secret_id: str) -> str:
        """The secret's name (the event may carry an ARN), checked against the namespace."""
        described = self._raw(secrets).call("describe_secret", "reading", None, SecretId=secret_id)
        full = str(described.get("Name", ""))
        if not secrets.namespace.contains(full):
            raise RotationError(
                f"secret {full!r} is outside this function's namespace "
                f"{secrets.namespace.root!r} (environment separation)",
                name=full,
            )
        try:
            secrets.namespace.full(secrets.namespace.short(full))
        except InvalidSecretName as exc:
            raise RotationError(f"secret {full!r}: {exc.message}", name=full) from None
        return full

    def _stages_of(self, secrets: Secrets, full: str, token: str) -> frozenset[str]:
        for info in secrets.backend.versions(full):
            if info.version == token:
                return info.stages
        return frozenset()

    def _pair(self, secrets: Secrets, full: str, token: str) -> tuple[Secret, Secret]:
        backend = secrets.backend
        return backend.read(full, version=token), backend.read(full, stage=CURRENT)

    def _create(
        self, engine: RotationEngine, full: str, token: str, stages: frozenset[str]
    ) -> None:
        secrets = engine.secrets
        if CURRENT in stages:
            return
        if PENDING in stages and self._has_value(secrets, full, token):
            return  # a repeated createSecret: the pending value exists already
        current = secrets.backend.read(full, stage=CURRENT)
        rotator = self.rotator_for(secrets.namespace.short(full))
        value = SecretValue.of(rotator.generate(current), max_bytes=secrets.backend.max_value_bytes)
        payload: dict[str, Any] = (
            {"SecretBinary": value.bytes()}
            if value.kind == "bytes"
            else {"SecretString": value.text()}
        )
        try:
            self._raw(secrets).call(
                "put_secret_value",
                "writing",
                full,
                SecretId=full,
                ClientRequestToken=token,
                VersionStages=["AWSPENDING"],
                **payload,
            )
        except Conflict:
            # A concurrent createSecret with this token stored its value first.
            if not self._has_value(secrets, full, token):
                raise
        secrets._invalidate(full)
        engine._done(full, Step.CREATE, token)

    def _has_value(self, secrets: Secrets, full: str, token: str) -> bool:
        try:
            secrets.backend.read(full, version=token)
        except SekretError:
            return False  # AWS's placeholder version of RotateSecret holds no value yet
        return True

    def _set(self, engine: RotationEngine, full: str, token: str) -> None:
        pending, current = self._pair(engine.secrets, full, token)
        rotator = self.rotator_for(engine.secrets.namespace.short(full))
        try:
            rotator.set(pending, current)
        except Exception as exc:
            engine._event(full, "set", token, exc)
            raise RotationError(
                f"rotation of {full!r}: set failed ({type(exc).__name__}); version {token}"
                " stays pending, AWS retries the step",
                name=full,
                version=token,
            ) from exc
        engine._done(full, Step.SET, token)

    def _test(self, engine: RotationEngine, full: str, token: str) -> None:
        pending, current = self._pair(engine.secrets, full, token)
        rotator = self.rotator_for(engine.secrets.namespace.short(full))
        try:
            rotator.set(pending, current)
            rotator.test(pending)
        except Exception as exc:
            engine._event(full, "test", token, exc)
            try:
                rotator.revert(pending, current)
            except Exception as revert_exc:  # noqa: BLE001 - reported, the test failure wins
                engine._event(full, "revert", token, revert_exc)
            raise RotationError(
                f"rotation of {full!r}: test of version {token} failed ({type(exc).__name__});"
                f" reverted, current is still {current.version}",
                name=full,
                version=token,
            ) from exc
        engine._done(full, Step.TEST, token)

    def _finish(self, engine: RotationEngine, full: str, token: str) -> None:
        backend = engine.secrets.backend
        current = backend.read(full, stage=CURRENT).version
        if current != token:
            try:
                backend.move_stage(full, CURRENT, token, expected_version=current)
            except Conflict:
                if backend.read(full, stage=CURRENT).version != token:
                    raise
        engine._drop_pending(full, token)
        engine._done(full, Step.FINISH, token)
