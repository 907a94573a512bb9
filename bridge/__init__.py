"""Control and inference around the running synth, in two rooms.

``matching`` turns audio into a patch (note finding, ONNX inference, refinement, saving the match);
``live`` is the running server's control surface (OSC, MIDI, the session, the match worker), built on it.
"""
