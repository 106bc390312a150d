"""Numba kernels: per-sample (or mini-batch) forward, backward, update, quantize and program.

All weights of the network live in one flat float64 buffer; layer k is the row-major block
``W[off[k] : off[k] + n_in[k] * n_out[k]]`` with element (i, j) = synapse from neuron i of layer k to
neuron j of layer k+1, so a forward step is ``a_{k+1} = sigmoid(a_k @ W_k)`` (no biases).

Training modes (``mode``):
  MODE_FLOAT      forward/backward with the high-precision weights themselves (``W_use is W_fp``).
  MODE_QUANTIZED  forward/backward with W_q = Eq. 6 of W_fp, deterministic (Hubara et al.).
  MODE_DEVICE     forward/backward with device weights; after each update a device is re-programmed
                  (one pulse, a draw from its level's <mz> samples) only when |W_dev - target(W_q)| > alpha
                  (Algorithm 1 of the paper; also ex-situ method (c)). ``targets[level]`` is the weight
                  programming aims at: the level value, for level -1 the start-notch weight
                  (:func:`dwsynapse.levels.programming_target`).

Backpropagation (``paper_bp``): True = the paper's rule delta^l = W delta^{l+1} (no f' propagated),
False = the standard rule delta^l = W (delta^{l+1} f'^{l+1}). Both update
dW_ij = -eta x_i^l delta_j^{l+1} f'_j^{l+1} (cost C = 1/2 sum (y - d)^2, delta^L = y - d).
Gradients are applied to W_fp unchanged (straight-through estimator).

Only rows whose input is non-zero change, so for binary images the first layer touches ~20 % of
its rows; a per-row flag keeps devices left outside the tolerance by their last pulse in the check,
which makes this exactly Algorithm 1's every-device comparison.

Random draws: ``draw_device`` hashes (seed key, flat device index, that device's pulse number) with
SplitMix64, so results do not depend on visiting order (the NumPy reference reproduces them).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

MODE_FLOAT, MODE_QUANTIZED, MODE_DEVICE = 0, 1, 2
SAMPLING_EMPIRICAL, SAMPLING_KDE = 0, 1

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
_INV53 = 1.0 / 9007199254740992.0  # 2**-53
# Reassociation lets LLVM vectorise the dot products; no-NaN/no-Inf flags stay off so that
# divergence is still detected.
_FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}


@njit(cache=True, inline="always")
def _mix(z):
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@njit(cache=True)
def draw_device(seed_key, flat, count, level, samples, counts, bandwidth, sampling):
    """One programming pulse of device ``flat`` (its ``count``-th) at ``level``: the new weight <mz>."""
    h = _mix(_mix(seed_key + np.uint64(flat) * _GOLDEN) + np.uint64(count))
    u = float(h >> _S11) * _INV53
    n = counts[level]
    j = int(u * n)
    if j >= n:
        j = n - 1
    w = samples[level, j]
    if sampling == SAMPLING_KDE:
        h1 = _mix(h + np.uint64(1))
        h2 = _mix(h + np.uint64(2))
        u1 = (float(h1 >> _S11) + 1.0) * _INV53
        u2 = float(h2 >> _S11) * _INV53
        w += bandwidth[level] * math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)
        if w > 1.0:
            w = 1.0
        elif w < -1.0:
            w = -1.0
    return w


@njit(cache=True, inline="always")
def _level(w, half_inv):
    """Eq. 6 level index of weight ``w``: clipped to [-1, 1], the nearest of n levels (``half_inv`` = (n - 1) / 2),
    a tie to the upper one. The argument of int() is >= 0.5, so truncation is the floor."""
    return int((min(max(w, -1.0), 1.0) + 1.0) * half_inv + 0.5)


@njit(cache=True, fastmath=_FASTMATH)
def _forward(x, W, off, n_in, n_out, act_off, a, nz):
    """Fill ``a`` (all layers' activations, input first) for one image ``x`` (uint8 row).

    ``nz`` is int64 scratch of the widest layer's length. Only non-zero inputs contribute, four weight
    rows per sweep over the outputs, so each output is loaded and stored once per four rows.
    """
    n_layers = n_in.shape[0]
    for i in range(n_in[0]):
        a[i] = x[i]
    for k in range(n_layers):
        nin, nout = n_in[k], n_out[k]
        ai = a[act_off[k] : act_off[k] + nin]
        ao = a[act_off[k + 1] : act_off[k + 1] + nout]
        m = 0
        for i in range(nin):
            if ai[i] != 0.0:
                nz[m] = i
                m += 1
        for j in range(nout):
            ao[j] = 0.0
        base = off[k]
        q = 0
        while q + 4 <= m:
            i0, i1, i2, i3 = nz[q], nz[q + 1], nz[q + 2], nz[q + 3]
            x0, x1, x2, x3 = ai[i0], ai[i1], ai[i2], ai[i3]
            w0 = W[base + i0 * nout : base + (i0 + 1) * nout]
            w1 = W[base + i1 * nout : base + (i1 + 1) * nout]
            w2 = W[base + i2 * nout : base + (i2 + 1) * nout]
            w3 = W[base + i3 * nout : base + (i3 + 1) * nout]
            for j in range(nout):
                ao[j] += x0 * w0[j] + x1 * w1[j] + x2 * w2[j] + x3 * w3[j]
            q += 4
        while q < m:  # the last m % 4 rows
            i0 = nz[q]
            x0 = ai[i0]
            w0 = W[base + i0 * nout : base + (i0 + 1) * nout]
            for j in range(nout):
                ao[j] += x0 * w0[j]
            q += 1
        for j in range(nout):
            ao[j] = 1.0 / (1.0 + math.exp(-ao[j]))


@njit(cache=True)
def _act_offsets(n_in, n_out):
    n_layers = n_in.shape[0]
    act_off = np.zeros(n_layers + 2, np.int64)
    act_off[1] = n_in[0]
    for k in range(n_layers):
        act_off[k + 2] = act_off[k + 1] + n_out[k]
    return act_off


@njit(cache=True)
def predict(X, W, off, n_in, n_out):
    """Class (argmax of the output layer) for every row of ``X`` (uint8 {0,1} images) with weights ``W``."""
    n_layers = n_in.shape[0]
    act_off = _act_offsets(n_in, n_out)
    a = np.zeros(act_off[n_layers + 1])
    nz = np.zeros(n_in.max(), np.int64)
    out = np.empty(X.shape[0], np.int64)
    o0 = act_off[n_layers]
    for s in range(X.shape[0]):
        _forward(X[s], W, off, n_in, n_out, act_off, a, nz)
        best = 0
        for j in range(1, n_out[n_layers - 1]):
            if a[o0 + j] > a[o0 + best]:
                best = j
        out[s] = best
    return out


@njit(cache=True, inline="always")
def _within_alpha_levels(w, targets, n_levels, alpha):
    """Bitmask of the levels whose programming target lies within ``alpha`` of device weight ``w``:
    bit ``lev`` clear = Algorithm 1 re-programs this device while its W_q is level ``lev``."""
    m = 0
    for lev in range(n_levels):
        if abs(w - targets[lev]) <= alpha:
            m |= 1 << lev
    return m


@njit(cache=True, fastmath=_FASTMATH, inline="always")
def _row_dot(wr, d, n):
    """sum_j wr[j] d[j] over the first ``n`` entries (one weight row times an error vector)."""
    acc = 0.0
    for j in range(n):
        acc += wr[j] * d[j]
    return acc


@njit(cache=True, fastmath=_FASTMATH)
def train_epoch(X, Y, order, W_fp, W_use, off, n_in, n_out, eta, batch_size, mode, paper_bp,
                n_levels, alpha, targets, samples, counts, bandwidth, sampling, seed_key,
                dev_count, row_dirty, pulses_layer, trace_flat, trace_buf, trace_every, image_counter):
    """Train one epoch over ``X[order]`` in mini-batches of ``batch_size`` (1 = per-sample SGD).

    Updates ``W_fp`` [and ``W_use``, ``dev_count``, ``row_dirty``, ``pulses_layer``] in place.
    ``eta`` is the learning rate (the batch's summed gradient is divided by ``batch_size``).
    ``trace_flat`` (int64 flat indices; empty = no trace): after every ``trace_every``-th image, counting
    images from ``image_counter`` (images seen before this epoch), row ``counter // trace_every`` of
    ``trace_buf`` (while there is one) gets (w_fp, w_q, w_use) of synapse ``trace_flat[t]`` in column
    ``t``; that row's image number is ``counter + 1``. ``trace_buf`` is float64 (rows, len(trace_flat), 3).
    Returns the image counter after the epoch.

    One pass per weight row: the batch's last sample back-propagates through layer k (top down) in the
    same sweep that updates, quantizes, compares and programs that layer's rows, reading each row's
    weights before they change (so the result equals backward-then-update). Whether a device is within
    tolerance is a per-device bitmask of the levels it is within alpha of, so the check per weight is a
    clamp, a rounding and a bit test (no gather of targets, no stored W_q).
    """
    n_layers = n_in.shape[0]
    n_samples = order.shape[0]
    act_off = _act_offsets(n_in, n_out)
    g_off = np.zeros(n_layers + 1, np.int64)  # g^k = delta^{k+1} f'^{k+1}, length n_out[k]
    for k in range(n_layers):
        g_off[k + 1] = g_off[k] + n_out[k]
    row_off = np.zeros(n_layers + 1, np.int64)
    for k in range(n_layers):
        row_off[k + 1] = row_off[k] + n_in[k]
    B = batch_size
    acts = np.zeros((B, act_off[n_layers + 1]))
    gs = np.zeros((B, g_off[n_layers]))
    width = 0
    for k in range(n_layers):
        width = max(width, n_in[k], n_out[k])
    delta = np.zeros(width)
    delta_next = np.zeros(width)
    nz = np.zeros(width, np.int64)
    coef = np.zeros(B)
    step = 2.0 / (n_levels - 1)
    half_inv = 0.5 * (n_levels - 1)
    ok = np.zeros(W_use.shape[0] if mode == MODE_DEVICE else 0, np.uint8)
    for p in range(ok.shape[0]):
        ok[p] = _within_alpha_levels(W_use[p], targets, n_levels, alpha)
    n_trace = trace_buf.shape[0] if trace_flat.shape[0] > 0 else 0
    counter = image_counter
    L = n_layers

    for start in range(0, n_samples, B):
        nb = min(B, n_samples - start)
        last = nb - 1
        for b in range(nb):
            s = order[start + b]
            a = acts[b]
            _forward(X[s], W_use, off, n_in, n_out, act_off, a, nz)
            # delta^L = y - d
            for j in range(n_out[L - 1]):
                delta[j] = a[act_off[L] + j]
            delta[Y[s]] -= 1.0
            for k in range(L - 1, -1, -1):
                nin, nout = n_in[k], n_out[k]
                ao = a[act_off[k + 1] : act_off[k + 1] + nout]
                gk = gs[b, g_off[k] : g_off[k] + nout]
                for j in range(nout):
                    gk[j] = delta[j] * ao[j] * (1.0 - ao[j])
                if b == last or k == 0:
                    break  # the last sample back-propagates inside the update sweep below
                dk = gk if not paper_bp else delta[:nout]
                for i in range(nin):
                    delta_next[i] = _row_dot(W_use[off[k] + i * nout : off[k] + (i + 1) * nout], dk, nout)
                for i in range(nin):
                    delta[i] = delta_next[i]
        # top down: back-propagate the last sample through layer k, update, quantize, compare, program
        scale = eta / B
        for k in range(n_layers - 1, -1, -1):
            nin, nout = n_in[k], n_out[k]
            ai0 = act_off[k]
            go = g_off[k]
            dk = gs[last, go : go + nout] if not paper_bp else delta[:nout]
            pulses = 0
            i_start = 0
            if mode == MODE_FLOAT and nb == 1 and k > 0:
                # W_use is W_fp: read each old weight once for the dot, then write it updated; two rows per sweep
                gk = gs[0, go : go + nout]
                i = 0
                while i + 2 <= nin:
                    c0 = acts[0, ai0 + i] * scale
                    c1 = acts[0, ai0 + i + 1] * scale
                    base = off[k] + i * nout
                    w0 = W_fp[base : base + nout]
                    w1 = W_fp[base + nout : base + 2 * nout]
                    acc0 = 0.0
                    acc1 = 0.0
                    for j in range(nout):
                        d = dk[j]
                        g = gk[j]
                        a0 = w0[j]
                        a1 = w1[j]
                        acc0 += a0 * d
                        acc1 += a1 * d
                        w0[j] = a0 - c0 * g
                        w1[j] = a1 - c1 * g
                    delta_next[i] = acc0
                    delta_next[i + 1] = acc1
                    i += 2
                i_start = i  # an odd last row takes the general path below
            for i in range(i_start, nin):
                base = off[k] + i * nout
                if k > 0:  # old weights: the reference back-propagates before updating
                    delta_next[i] = _row_dot(W_use[base : base + nout], dk, nout)
                any_x = False
                for b in range(nb):
                    coef[b] = acts[b, ai0 + i] * scale
                    if coef[b] != 0.0:
                        any_x = True
                r = row_off[k] + i
                if not any_x and row_dirty[r] == 0:
                    continue
                wf = W_fp[base : base + nout]
                if any_x:
                    for b in range(nb):
                        c = coef[b]
                        if c != 0.0:
                            gk = gs[b, go : go + nout]
                            for j in range(nout):
                                wf[j] -= c * gk[j]
                if mode == MODE_FLOAT:
                    continue
                wu = W_use[base : base + nout]
                if mode == MODE_QUANTIZED:
                    for j in range(nout):
                        wq = _level(wf[j], half_inv) * step - 1.0
                        if wu[j] != wq:
                            wu[j] = wq
                            pulses += 1
                    continue
                okr = ok[base : base + nout]
                n_bad = 0
                for j in range(nout):
                    n_bad += ((okr[j] >> _level(wf[j], half_inv)) & 1) ^ 1
                dirty = 0
                if n_bad > 0:
                    for j in range(nout):
                        lev = _level(wf[j], half_inv)
                        if (okr[j] >> lev) & 1 == 0:
                            p = base + j
                            wu[j] = draw_device(seed_key, p, dev_count[p], lev, samples, counts, bandwidth, sampling)
                            dev_count[p] += 1
                            pulses += 1
                            okr[j] = _within_alpha_levels(wu[j], targets, n_levels, alpha)
                            if (okr[j] >> lev) & 1 == 0:
                                dirty = 1
                row_dirty[r] = dirty
            pulses_layer[k] += pulses
            if k > 0:
                for i in range(nin):  # delta^k of the last sample, then its g^{k-1}
                    delta[i] = delta_next[i]
                ao = acts[last, act_off[k] : act_off[k] + nin]
                gp = gs[last, g_off[k - 1] : g_off[k - 1] + nin]
                for i in range(nin):
                    gp[i] = delta[i] * ao[i] * (1.0 - ao[i])
        for b in range(nb):
            row = counter // trace_every
            if row < n_trace and counter % trace_every == 0:
                for t in range(trace_flat.shape[0]):
                    p = trace_flat[t]
                    w = W_fp[p]
                    trace_buf[row, t, 0] = w
                    if mode == MODE_FLOAT:
                        trace_buf[row, t, 1] = w
                    else:
                        trace_buf[row, t, 1] = _level(w, half_inv) * step - 1.0
                    trace_buf[row, t, 2] = W_use[p]
            counter += 1
    return counter


@njit(cache=True)
def program_all(levels_flat, n_levels, seed_key, dev_count, samples, counts, bandwidth, sampling, W_dev):
    """One pulse per device to its level (initial programming); updates ``W_dev`` and ``dev_count``."""
    for p in range(levels_flat.shape[0]):
        W_dev[p] = draw_device(seed_key, p, dev_count[p], levels_flat[p], samples, counts, bandwidth, sampling)
        dev_count[p] += 1


@njit(cache=True)
def program_verify(levels_flat, alpha, cap, seed_key, targets, samples, counts, bandwidth, sampling,
                   W_dev, attempts):
    """Read-verify-write: pulse each device until within +-alpha of its level's target or ``cap`` pulses.
    ``targets ... sampling`` are :attr:`DeviceModel.kernel_tables`.

    Fills ``W_dev`` and ``attempts`` (pulses used per device); returns the number of devices at the cap
    that are still outside the tolerance.
    """
    at_cap = 0
    for p in range(levels_flat.shape[0]):
        lev = levels_flat[p]
        target = targets[lev]
        n = 0
        w = 0.0
        while n < cap:
            w = draw_device(seed_key, p, n, lev, samples, counts, bandwidth, sampling)
            n += 1
            if abs(w - target) <= alpha:
                break
        W_dev[p] = w
        attempts[p] = n
        if abs(w - target) > alpha:
            at_cap += 1
    return at_cap


def draw_device_numpy(seed_key: int, flat: np.ndarray, count: np.ndarray, level: np.ndarray,
                      samples: np.ndarray, counts: np.ndarray, bandwidth: np.ndarray, sampling: int) -> np.ndarray:
    """Vectorised NumPy twin of :func:`draw_device` (same hash, same result) for references and tests."""
    with np.errstate(over="ignore"):
        def mix(z):
            z = (z ^ (z >> _S30)) * _M1
            z = (z ^ (z >> _S27)) * _M2
            return z ^ (z >> _S31)

        flat = np.asarray(flat, np.uint64)
        h = mix(mix(np.uint64(seed_key) + flat * _GOLDEN) + np.asarray(count, np.uint64))
        u = (h >> _S11).astype(np.float64) * _INV53
        level = np.asarray(level, np.int64)
        n = counts[level]
        j = np.minimum((u * n).astype(np.int64), n - 1)
        w = samples[level, j]
        if sampling == SAMPLING_KDE:
            u1 = ((mix(h + np.uint64(1)) >> _S11).astype(np.float64) + 1.0) * _INV53
            u2 = (mix(h + np.uint64(2)) >> _S11).astype(np.float64) * _INV53
            w = np.clip(w + bandwidth[level] * np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2), -1.0, 1.0)
    return w
