"""Widgets that render the host model."""
