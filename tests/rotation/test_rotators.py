def test_no_rotator_suggests_itself_for_vendor_api_keys() -> None:
    """No built-in rotator lists api_key among its kinds (a vendor's key cannot be generated)."""
    from sekret.rotation.rotators import BUILTIN, rotator_class

    assert all("api_key" not in rotator_class(name).kinds for name in BUILTIN)
