"""Control and inference around the running synth: OSC, MIDI, capture, ONNX matching.

Not built yet: see the real-time issue. The engine renders offline today.
"""
