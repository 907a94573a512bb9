"""The batched offline renderer: one compiled (numba) pass per patch per synth, many patches per call.

Each synth's module here turns rows of real values into clips, straight from the synth's formulas
(engine/synths/ holds the spec and the pyo voice; the parity tests prove the two equal). The
kernels are compiled on first use and cached on disk (numba's ``cache=True``).
"""
