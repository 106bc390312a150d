"""Embedded batched finite-difference micromagnetic engine (``engine: torch``).

Magnetization tensors are (B, 3, ny, nx) for B independent thermal instances on one cell mask;
fields are in tesla. One module per term (exchange, dmi, anisotropy, demag, sot, thermal), the
LLG/Heun integrator in :mod:`.solver`, the racetrack experiment in :mod:`.racetrack`.
"""

from .racetrack import run_instances

__all__ = ["run_instances"]
