"""Preset banks (versioned JSON) and the preset store.

The format (preset.py), the store (store.py) and the factory bank (factory/) are here;
the terminal preset manager comes with the presets issue.
"""
