"""The running server's control surface: OSC in and out, MIDI in, the session, tempo, the match worker."""
