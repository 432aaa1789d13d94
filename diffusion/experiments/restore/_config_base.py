"""A leaf base class of :class:`~diffusion.experiments.restore.config.RestoreConfig`, so that
argument checks in modules that ``config`` imports can recognise a run's configuration
without importing ``config`` (no import cycle)."""

from __future__ import annotations


class ConfigBase:
    """Marker base of :class:`~diffusion.experiments.restore.config.RestoreConfig`."""

    __slots__ = ()
