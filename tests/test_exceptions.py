"""The exception tree (sekret.exceptions)."""

from __future__ import annotations

import inspect

import sekret.exceptions as exc_module
from sekret.exceptions import SekretError


def _classes() -> list[type[SekretError]]:
    return [
        obj
        for _, obj in inspect.getmembers(exc_module, inspect.isclass)
        if issubclass(obj, SekretError)
    ]


def test_every_error_descends_from_sekret_error() -> None:
    """Every exported error class is a SekretError."""
    for name in exc_module.__all__:
        assert issubclass(getattr(exc_module, name), SekretError)


def test_docstring_draws_every_class() -> None:
    """The module docstring's tree names every class, so it cannot drift."""
    doc = exc_module.__doc__ or ""
    for cls in _classes():
        assert cls.__name__ in doc, cls.__name__


def test_codes_are_unique() -> None:
    """Each class has its own stable code for logs and audit events."""
    codes = [cls.code for cls in _classes()]
    assert len(codes) == len(set(codes))


def test_python_bases_for_familiar_handling() -> None:
    """Not-found is a LookupError, bad names/values are ValueErrors, missing SDKs ImportErrors."""
    assert issubclass(exc_module.SecretNotFound, LookupError)
    assert issubclass(exc_module.InvalidSecretName, ValueError)
    assert issubclass(exc_module.InvalidValue, ValueError)
    assert issubclass(exc_module.BackendNotInstalled, ImportError)


def test_attributes_identify_the_subject() -> None:
    """Errors carry name, version and backend, and str() is the message."""
    err = exc_module.VersionNotFound("no version 3", name="a/b", version="3", backend="memory://")
    assert (err.name, err.version, err.backend) == ("a/b", "3", "memory://")
    assert str(err) == "no version 3"
