"""The audio engine: parameter specs, pyo voices and offline rendering.

Import ``inversynth.engine.spec`` and ``inversynth.engine.synths`` freely: they
need only numpy. Modules that touch pyo (``voice``, ``render``) import it
lazily through ``inversynth.engine.pyo_runtime``.
"""
