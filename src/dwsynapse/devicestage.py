"""Former home of the device stage, now the package :mod:`dwsynapse.device`. Only the three names that
``dwsynapse.calibration`` still imports from here remain (that module belongs to another change in
progress); import them from :mod:`dwsynapse.device.chunks` and :mod:`dwsynapse.device.engine`. This
module goes once ``dwsynapse.calibration`` does so."""

from dwsynapse.device.chunks import chunk_seeds, plan_chunks
from dwsynapse.device.engine import get_engine

__all__ = ["chunk_seeds", "get_engine", "plan_chunks"]
