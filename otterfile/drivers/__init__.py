"""Drivers perform the stages of a runtime on one target."""
