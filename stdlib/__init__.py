"""Recipes that ship with otter, imported as otterfile.stdlib."""
