"""Straightforward NumPy implementation of one training step (per sample), for checks and benchmarks.

It follows Algorithm 1 literally — dense matrix-vector products, an outer-product update of every
weight, quantization and tolerance check of every device, one pulse for each device outside
+-alpha — with the same counter-based draws as the numba kernels, so both give the same network
up to floating-point summation order.
"""

from __future__ import annotations

import numpy as np

from dwsynapse.nn import kernels as K


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def reference_step(x: np.ndarray, label: int, w_fp: list[np.ndarray], w_use: list[np.ndarray], offsets: list[int],
                   eta: float, mode: int, paper_bp: bool, n_levels: int, alpha: float, device_tables: tuple,
                   seed_key: int, dev_count: np.ndarray) -> np.ndarray:
    """One per-sample step on per-layer (n_in, n_out) matrices, in place; returns programming pulses per layer.

    ``device_tables`` = :attr:`DeviceModel.kernel_tables` (targets, samples, counts, bandwidth, sampling); ``offsets`` the
    flat index of each layer's first weight (device identity for the draws); ``dev_count`` the flat
    per-device pulse counter.
    """
    acts = [np.asarray(x, np.float64)]
    for W in w_use:
        acts.append(sigmoid(acts[-1] @ W))
    delta = acts[-1].copy()
    delta[label] -= 1.0
    grads = [None] * len(w_fp)
    for k in range(len(w_fp) - 1, -1, -1):
        y = acts[k + 1]
        grads[k] = delta * y * (1.0 - y)
        if k > 0:
            delta = w_use[k] @ (delta if paper_bp else grads[k])
    step = 2.0 / (n_levels - 1)
    pulses = np.zeros(len(w_fp), np.int64)
    for k in range(len(w_fp)):
        w_fp[k] -= eta * np.outer(acts[k], grads[k])
        if mode == K.MODE_FLOAT:
            w_use[k][...] = w_fp[k]
            continue
        lev = np.floor((np.clip(w_fp[k], -1.0, 1.0) + 1.0) / step + 0.5)  # Eq. 6 level index
        wq = lev * step - 1.0
        if mode == K.MODE_QUANTIZED:
            pulses[k] = int(np.count_nonzero(w_use[k] != wq))
            w_use[k][...] = wq
            continue
        targets, samples, counts, bandwidth, sampling = device_tables
        bad = np.flatnonzero(np.abs(w_use[k] - targets[lev.astype(np.int64)]).ravel() > alpha)
        flat = offsets[k] + bad
        w_use[k].ravel()[bad] = K.draw_device_numpy(seed_key, flat, dev_count[flat], lev.ravel()[bad].astype(np.int64),
                                                    samples, counts, bandwidth, sampling)
        dev_count[flat] += 1
        pulses[k] = bad.size
    return pulses
