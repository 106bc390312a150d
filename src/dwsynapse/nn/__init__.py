"""Learning with stochastic domain-wall synapses: float baseline, in-situ (Algorithm 1) and ex-situ training.

Modules: :mod:`quantize` (Eq. 6), :mod:`devicemodel` (level <-> Ku maps, programming draws),
:mod:`synapse` (float, quantized or device-backed synapse: what training computes with),
:mod:`kernels` (numba per-sample forward/backward/update), :mod:`network` (weights, init, I/O),
:mod:`trainer` (epoch loop, checkpoint/resume, metrics), :mod:`baseline`, :mod:`insitu`, :mod:`exsitu`.
"""

# Columns of an in-situ run's trace.csv (long format, one line per recorded image and traced synapse):
# written by :func:`dwsynapse.nn.trainer.trace_csv`, read by :func:`dwsynapse.results.load_trace`.
TRACE_COLUMNS = ("image", "row", "col", "w_fp", "w_q", "w_dev")
