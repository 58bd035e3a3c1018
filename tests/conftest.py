"""Shared pytest configuration: nothing here may need docker."""
