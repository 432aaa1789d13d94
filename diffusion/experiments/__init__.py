"""Experiments built on the library: image restoration, the 2-D study, the reports. Each is a
command (``python -m diffusion.<name>``) and a set of stages callable from Python."""
