"""inversynth: a real-time FM synthesizer that learns to program itself.

The sub-packages live in top-level folders of the repository:
``inversynth.engine`` (engine/), ``inversynth.bridge`` (bridge/),
``inversynth.training`` (training/) and ``inversynth.presets`` (presets/).
Heavy imports (pyo, onnxruntime, torch) stay out of this file so that
``inversynth --help`` is instant.
"""

__version__ = "0.1.0"
