"""Rotation: the four-step engine, schedules, and the built-in rotators.

    from sekret.rotation import RotationEngine, make_rotator
    RotationEngine(admin_secrets).rotate("cohere-api-key", make_rotator("random", length=48))

Rotators register under the entry-point group ``sekret.rotators``:
``random``, ``api_key``, ``postgres``, ``encryption_key``. Importing this
package loads no database driver.
"""

from sekret.rotation.engine import RotationEngine, RotationResult, Rotator, Step
from sekret.rotation.keyring import EncryptionKeyRotator, Keyring
from sekret.rotation.rotators import ApiKeyRotator, RandomRotator, make_rotator, rotator_class
from sekret.rotation.schedule import (
    DEFAULT_INTERVAL_DAYS,
    RotationPlan,
    RotationStatus,
    rotation_status,
)

__all__ = [
    "DEFAULT_INTERVAL_DAYS",
    "ApiKeyRotator",
    "EncryptionKeyRotator",
    "Keyring",
    "RandomRotator",
    "RotationEngine",
    "RotationPlan",
    "RotationResult",
    "RotationStatus",
    "Rotator",
    "Step",
    "make_rotator",
    "rotation_status",
    "rotator_class",
]
