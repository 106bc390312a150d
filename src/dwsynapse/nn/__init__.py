"""Learning with stochastic domain-wall synapses: float baseline, in-situ (Algorithm 1) and ex-situ training.

Modules: :mod:`quantize` (Eq. 6), :mod:`devicemodel` (level <-> Ku maps, programming draws),
:mod:`kernels` (numba per-sample forward/backward/update), :mod:`network` (weights, init, I/O),
:mod:`trainer` (epoch loop, checkpoint/resume, metrics), :mod:`baseline`, :mod:`insitu`, :mod:`exsitu`.
"""
