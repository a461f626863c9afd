"""Sentences of the catalogue by concern (run warnings, command-line words), gathered and served
by `serving.labels`, the one entry point: import from there."""
