"""Test server fixture: gcp_fake (filled in by its backend work)."""
