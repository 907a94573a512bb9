"""Preset banks (versioned JSON) and the preset store.

Not built yet: see the presets issue.
"""
