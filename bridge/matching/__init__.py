"""From audio to a patch: notes found in a take, the network's estimate, the refinement, the saved preset."""
