"""Test server fixture: azure_fake (filled in by its backend work)."""
