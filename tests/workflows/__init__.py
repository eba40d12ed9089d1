"""Structural tests of the GitHub Actions workflows and the smoke input they upload."""
