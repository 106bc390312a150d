"""Epoch loop shared by every training method: seeding, learning-rate decay, evaluation,
per-epoch checkpoints (atomic, resumable) and the metrics/trace files of a run.

Seeds: the initial weights come from ``(seed, 0)``, the shuffle of epoch e from ``(seed, 1, e)``
and the device draws from a key derived from ``(seed, 2)`` plus a per-device pulse counter, so a
run resumed from any checkpoint is bit-for-bit identical to an uninterrupted one. The traced
synapses are drawn from their own stream ``(seed, TRACE_STREAM)``, so tracing changes no other draw.

What the network computes with (float, quantized or device weights, and how devices start) is the
``synapse`` argument of :func:`train` (:mod:`dwsynapse.nn.synapse`), not a hyper-parameter.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from dwsynapse.io import atomic_path, write_json, write_text
from dwsynapse.mnist import MnistData, load_mnist
from dwsynapse.nn import TRACE_COLUMNS
from dwsynapse.nn import kernels as K
from dwsynapse.nn.network import Layout, init_keys, init_weights
from dwsynapse.nn.quantize import level_index, levels, quantize
from dwsynapse.nn.synapse import SYNAPSES, DeviceSynapse, FloatSynapse, QuantizedSynapse, Synapse

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.npz"
TRACE_STREAM = 0x7ACE  # second seed word of the traced-synapse selection


@dataclass(frozen=True)
class TrainSettings:
    """Hyper-parameters of one training run (config section ``train``).

    ``eta0`` initial learning rate (dimensionless, per sample), multiplied by ``1 - eta_decay`` after
    each epoch; ``backprop`` 'paper' or 'standard'. How devices start (``train.initial_programming``)
    belongs to the synapse (:class:`dwsynapse.nn.synapse.DeviceSynapse`), not here.
    """

    seed: int
    epochs: int
    eta0: float
    eta_decay: float
    hidden: tuple[int, ...]
    backprop: str = "paper"
    init: str = "normal_fan_in"
    init_std: float | None = None
    batch_size: int = 1

    def __post_init__(self) -> None:
        if self.backprop not in ("paper", "standard"):
            raise ValueError(f"train.backprop must be 'paper' or 'standard', got {self.backprop!r}")
        if int(self.epochs) < 1 or int(self.batch_size) < 1:
            raise ValueError("train.epochs and train.batch_size must be >= 1")
        if not self.eta0 > 0 or not 0 <= self.eta_decay < 1:
            raise ValueError("train.eta0 must be > 0 and train.eta_decay in [0, 1)")

    @classmethod
    def from_config(cls, train: dict, *, float_network: bool) -> "TrainSettings":
        """Settings of one run from config section ``train``, its init from :func:`init_keys` (the study's
        rule picks each kind of network's init on its own runs)."""
        init, init_std = init_keys(float_network=float_network)
        return cls(
            seed=int(train["seed"]),
            epochs=int(train["epochs"]),
            eta0=float(train["eta0"]),
            eta_decay=float(train["eta_decay"]),
            hidden=tuple(int(h) for h in train["hidden"]),
            backprop=train["backprop"],
            init=train[init],
            init_std=train[init_std],
            batch_size=int(train["batch_size"]),
        )

    def eta(self, epoch: int) -> float:
        """Learning rate used in ``epoch`` (1-based)."""
        return self.eta0 * (1.0 - self.eta_decay) ** (epoch - 1)


@dataclass
class Data:
    """Binary images as uint8 (N, 784) in {0, 1} and int64 labels."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    @classmethod
    def from_mnist(cls, m: MnistData) -> "Data":
        for name in ("x_train", "x_test"):
            x = getattr(m, name)
            if x.size and not np.all((x == 0) | (x == 1)):
                raise ValueError(f"{name} must be binary {{0, 1}} (set mnist.binarize_threshold)")
        conv = lambda x: np.ascontiguousarray(x, dtype=np.uint8)  # noqa: E731
        return cls(conv(m.x_train), m.y_train.astype(np.int64), conv(m.x_test), m.y_test.astype(np.int64))

    def digest(self) -> str:
        h = hashlib.sha256()
        for a in (self.x_train, self.y_train, self.x_test, self.y_test):
            h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()


def load_data(config: dict, mnist_dir: str | Path) -> Data:
    """Load MNIST from ``mnist_dir`` with the config's threshold and subset sizes."""
    m = config["mnist"]
    return Data.from_mnist(load_mnist(mnist_dir, int(m["binarize_threshold"]), m["n_train"], m["n_test"]))


def accuracy(layout: Layout, W: np.ndarray, x: np.ndarray, y: np.ndarray) -> float:
    """Fraction of images in ``x`` whose argmax output equals the label ``y``."""
    if len(y) == 0:
        return float("nan")
    pred = K.predict(x, W, layout.off, layout.n_in, layout.n_out)
    return float(np.mean(pred == y))


def seed_key(seed: int, purpose: int) -> np.uint64:
    """A 64-bit key for the counter-based device draws, derived from the config seed."""
    return np.random.SeedSequence([int(seed), int(purpose)]).generate_state(1, np.uint64)[0]


@dataclass(frozen=True)
class TraceSpec:
    """``count`` synapses of weight layer ``layer`` whose (w_fp, w_q, w_dev) are recorded after every
    ``every``-th of the first ``images`` training images (config ``train.trace_synapse``); which ones
    is decided by :func:`trace_synapses` from the run's seed."""

    layer: int
    count: int
    images: int
    every: int = 1  # record after every ``every``-th image: a trace can span an epoch with few rows

    @property
    def rows(self) -> int:
        """Recorded rows: images 1, every + 1, 2 every + 1, ... up to ``images``."""
        return -(-self.images // self.every)

    def __post_init__(self) -> None:
        for name in ("layer", "count", "images", "every"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise ValueError(f"train.trace_synapse.{name} must be an integer, got {v!r}")
        if self.layer < 0:
            raise ValueError(f"train.trace_synapse.layer must be >= 0, got {self.layer}")
        if self.count < 1 or self.images < 1 or self.every < 1:
            raise ValueError(f"train.trace_synapse.count, .images and .every must be >= 1, got count={self.count}, "
                             f"images={self.images}, every={self.every}")


def trace_synapses(layout: Layout, trace: TraceSpec, seed: int) -> np.ndarray:
    """The traced synapses of ``trace`` as an int64 (count, 2) array of (row, col) in weight layer
    ``trace.layer``, sorted: ``trace.count`` of them drawn without replacement by
    ``np.random.default_rng([seed, TRACE_STREAM])`` (a stream no other draw of training uses)."""
    if not 0 <= trace.layer < layout.n_layers:
        raise ValueError(f"train.trace_synapse.layer {trace.layer} out of range: the network "
                         f"{'-'.join(map(str, layout.sizes))} has weight layers 0..{layout.n_layers - 1}")
    n_in, n_out = layout.sizes[trace.layer], layout.sizes[trace.layer + 1]
    if trace.count > n_in * n_out:
        raise ValueError(f"train.trace_synapse.count {trace.count} is larger than weight layer {trace.layer} "
                         f"({n_in} x {n_out} = {n_in * n_out} synapses)")
    pick = np.sort(np.random.default_rng([int(seed), TRACE_STREAM]).choice(n_in * n_out, trace.count, replace=False))
    return np.stack([pick // n_out, pick % n_out], axis=1).astype(np.int64)


@dataclass
class TrainResult:
    layout: Layout
    w_fp: np.ndarray
    w_use: np.ndarray
    epochs: list[dict]
    wall_time_s: float
    trace: np.ndarray | None = None  # (rows recorded, count, 3): w_fp, w_q, w_dev after image i * trace_every + 1
    initial_pulses: int = 0
    dev_count: np.ndarray | None = None
    extra: dict = field(default_factory=dict)
    trace_synapses: np.ndarray | None = None  # (count, 2): (row, col) of each traced synapse
    trace_every: int = 1  # trace row i holds the weights after image i * trace_every + 1


def _kernel_synapse(synapse: Synapse) -> tuple[int, int, float, tuple]:
    """(mode code, number of levels, alpha, device tables) of ``synapse`` as :func:`kernels.train_epoch` takes them."""
    match synapse:
        case DeviceSynapse(device=device):
            return K.MODE_DEVICE, device.config.states, device.config.alpha, device.kernel_tables
        case QuantizedSynapse(states=states):
            mode, n_levels = K.MODE_QUANTIZED, int(states)
        case _:
            mode, n_levels = K.MODE_FLOAT, 2
    # no device: the quantized levels themselves, and empty sample tables the kernels never read
    return mode, n_levels, 0.0, (levels(n_levels), np.zeros((1, 1)), np.ones(1, np.int64), np.zeros(1), 0)


def _fingerprint(settings: TrainSettings, synapse: Synapse, data: Data, trace: TraceSpec | None, n_levels: int) -> str:
    h = hashlib.sha256()
    # The epoch count is left out: the learning-rate schedule does not depend on it, so a finished
    # run's checkpoint can also be extended by more epochs.
    fixed = {k: v for k, v in asdict(settings).items() if k != "epochs"}
    device = synapse.device if isinstance(synapse, DeviceSynapse) else None
    h.update(json.dumps({"settings": fixed, "mode": synapse.kind, "trace": asdict(trace) if trace else None,
                         "n_levels": n_levels, "device": device.summary() if device else None,
                         "initial_programming": synapse.initial_programming if device else None},
                        sort_keys=True, default=str).encode())
    if device is not None:
        h.update(device.samples.tobytes())
    h.update(data.digest().encode())
    return h.hexdigest()


def _initial_weights(synapse: Synapse, layout: Layout, w_fp: np.ndarray, n_levels: int, alpha: float, tables: tuple,
                     key: np.uint64, dev_count: np.ndarray, row_dirty: np.ndarray) -> tuple[np.ndarray, int]:
    """The weights the network starts computing with and the pulses that took (device ``program``:
    one per device, with ``dev_count`` and ``row_dirty`` updated)."""
    match synapse:
        case FloatSynapse():
            return w_fp, 0
        case QuantizedSynapse():
            return quantize(w_fp, n_levels), 0
        case DeviceSynapse(initial_programming="ideal"):
            return tables[0][level_index(w_fp, n_levels)], 0  # every device exactly at its level's target
    # a device synapse with initial programming 'program': one pulse per device at its initial level
    w_use = np.empty_like(w_fp)
    levels_flat = level_index(w_fp, n_levels)
    K.program_all(levels_flat, n_levels, key, dev_count, *tables[1:], w_use)
    # devices whose first pulse missed the tolerance are checked again at the first update
    bad = np.abs(w_use - tables[0][levels_flat]) > alpha
    row_dirty[:] = np.concatenate([layout.layer(bad, k).any(axis=1) for k in range(layout.n_layers)])
    return w_use, layout.n_weights


def train(settings: TrainSettings, data: Data, synapse: Synapse, run_dir: str | Path | None = None,
          trace: TraceSpec | None = None) -> TrainResult:
    """Train the network computing with ``synapse`` (:class:`~dwsynapse.nn.synapse.FloatSynapse`,
    :class:`~dwsynapse.nn.synapse.QuantizedSynapse` or :class:`~dwsynapse.nn.synapse.DeviceSynapse`)
    for ``settings.epochs`` epochs.

    With ``run_dir`` a checkpoint is written atomically after each epoch and a re-run with the same
    settings, synapse and data resumes after the last completed epoch. Per-epoch metrics: eta,
    train/test accuracy (with the weights the network computes with), seconds, and for a device
    synapse the programming pulses (total and per layer).
    """
    if not isinstance(synapse, SYNAPSES):
        raise TypeError("train: synapse must be FloatSynapse(), QuantizedSynapse(states) or "
                        f"DeviceSynapse(device) (dwsynapse.nn.synapse), got {synapse!r}")
    layout = Layout.from_hidden(settings.hidden, n_input=data.x_train.shape[1])
    if len(data.y_train) == 0:
        raise ValueError("no training images")
    if data.y_train.max(initial=0) >= layout.sizes[-1]:
        raise ValueError(f"labels up to {int(data.y_train.max())} but only {layout.sizes[-1]} output neurons")
    mode, n_levels, alpha, tables = _kernel_synapse(synapse)
    key = seed_key(settings.seed, 2)
    if trace:
        synapses = trace_synapses(layout, trace, settings.seed)
        trace_flat = np.array([layout.flat_index(trace.layer, int(r), int(c)) for r, c in synapses], np.int64)
        trace_buf = np.zeros((trace.rows, trace.count, 3))
        every = trace.every
    else:
        synapses, trace_flat, trace_buf, every = None, np.zeros(0, np.int64), np.zeros((0, 0, 3)), 1
    fp = _fingerprint(settings, synapse, data, trace, n_levels)
    ckpt = Path(run_dir) / CHECKPOINT if run_dir is not None else None

    state = _load_checkpoint(ckpt, fp) if ckpt is not None else None
    if state is not None and len(json.loads(str(state["epochs"]))) > settings.epochs:
        log.warning("checkpoint %s is past epoch %d; starting afresh", ckpt, settings.epochs)
        state = None
    if state is not None and state["trace"].shape != trace_buf.shape:
        log.warning("checkpoint %s has a trace of shape %s, not %s; starting afresh", ckpt, state["trace"].shape,
                    trace_buf.shape)
        state = None
    if state is not None:
        w_fp, w_use, dev_count, row_dirty = state["w_fp"], state["w_use"], state["dev_count"], state["row_dirty"]
        trace_buf[:] = state["trace"]
        counter = int(state["counter"])
        epochs = json.loads(str(state["epochs"]))
        initial_pulses = int(state["initial_pulses"])
        elapsed = float(state["elapsed"])
        log.info("resuming from %s after epoch %d", ckpt, len(epochs))
    else:
        w_fp = init_weights(layout, settings.init, np.random.default_rng([settings.seed, 0]), settings.init_std)
        dev_count = np.zeros(layout.n_weights, np.int64)
        row_dirty = np.zeros(int(layout.n_in.sum()), np.uint8)
        w_use, initial_pulses = _initial_weights(synapse, layout, w_fp, n_levels, alpha, tables, key, dev_count,
                                                 row_dirty)
        counter, epochs, elapsed = 0, [], 0.0
    if mode == K.MODE_FLOAT:
        w_use = w_fp  # the same buffer: float training computes with its own weights

    t_run = time.perf_counter()
    for epoch in range(len(epochs) + 1, settings.epochs + 1):
        t0 = time.perf_counter()
        eta = settings.eta(epoch)
        order = np.random.default_rng([settings.seed, 1, epoch]).permutation(len(data.y_train)).astype(np.int64)
        pulses_layer = np.zeros(layout.n_layers, np.int64)
        counter = K.train_epoch(
            data.x_train, data.y_train, order, w_fp, w_use, layout.off, layout.n_in, layout.n_out, eta,
            settings.batch_size, mode, settings.backprop == "paper", n_levels, alpha, *tables, key,
            dev_count, row_dirty, pulses_layer, trace_flat, trace_buf, every, counter,
        )
        if not np.all(np.isfinite(w_fp)):
            raise FloatingPointError(f"epoch {epoch}: weights became non-finite (eta={eta:g} too large?)")
        row = {
            "epoch": epoch,
            "eta": eta,
            "train_acc": accuracy(layout, w_use, data.x_train, data.y_train),
            "test_acc": accuracy(layout, w_use, data.x_test, data.y_test),
        }
        if mode == K.MODE_DEVICE:
            row["pulses"] = int(pulses_layer.sum())
            row["pulses_per_layer"] = [int(p) for p in pulses_layer]
        row["seconds"] = time.perf_counter() - t0
        epochs.append(row)
        log.info("epoch %d/%d eta=%.5f train=%.4f test=%.4f %s(%.1f s)", epoch, settings.epochs, eta,
                 row["train_acc"], row["test_acc"], f"pulses={row['pulses']} " if "pulses" in row else "", row["seconds"])
        if ckpt is not None:
            _save_checkpoint(ckpt, fp, w_fp, w_use, dev_count, row_dirty, trace_buf, counter, epochs,
                             initial_pulses, elapsed + time.perf_counter() - t_run)
    wall = elapsed + time.perf_counter() - t_run
    return TrainResult(layout, w_fp, w_use, epochs, wall,
                       trace_buf[: min(-(-counter // every), len(trace_buf))] if trace else None, initial_pulses,
                       dev_count, trace_synapses=synapses, trace_every=every)


def _save_checkpoint(path, fp, w_fp, w_use, dev_count, row_dirty, trace_buf, counter, epochs, initial_pulses, elapsed):
    with atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, fingerprint=fp, w_fp=w_fp, w_use=w_use, dev_count=dev_count, row_dirty=row_dirty,
                     trace=trace_buf, counter=counter, epochs=json.dumps(epochs), initial_pulses=initial_pulses,
                     elapsed=elapsed)


def _load_checkpoint(path: Path, fp: str) -> dict | None:
    if not path.exists():
        return None
    try:
        with np.load(path) as z:
            state = {k: z[k] for k in z.files}
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable checkpoint %s (%s); starting afresh", path, exc)
        return None
    if str(state.get("fingerprint")) != fp:
        log.warning("checkpoint %s belongs to other settings or data; starting afresh", path)
        return None
    return state


def remove_checkpoint(run_dir: str | Path) -> None:
    """Delete a finished run's checkpoint (its final outputs are written)."""
    (Path(run_dir) / CHECKPOINT).unlink(missing_ok=True)


def epochs_csv(epochs: list[dict]) -> str:
    """One CSV row per epoch (``pulses_per_layer`` joined with ';')."""
    cols = [c for c in ("epoch", "eta", "train_acc", "test_acc", "seconds", "pulses", "pulses_per_layer") if c in epochs[0]]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for r in epochs:
        w.writerow([";".join(map(str, r[c])) if isinstance(r[c], list) else r[c] for c in cols])
    return buf.getvalue()


def trace_csv(trace: np.ndarray, synapses: np.ndarray, every: int = 1) -> str:
    """The traced synapses as long-format CSV with columns image,row,col,w_fp,w_q,w_dev: one line per
    (recorded image, synapse), images from 1, every ``every``-th image. ``trace`` is
    :attr:`TrainResult.trace` (rows, count, 3) and ``synapses`` the (count, 2) (row, col) of
    :attr:`TrainResult.trace_synapses`."""
    trace, synapses = np.asarray(trace, float), np.asarray(synapses, np.int64)
    if trace.ndim != 3 or trace.shape[2] != 3 or synapses.shape != (trace.shape[1], 2):
        raise ValueError(f"trace {trace.shape} and synapses {synapses.shape} must be (images, count, 3) and (count, 2)")
    lines = [",".join(TRACE_COLUMNS)]
    for i, per_image in enumerate(trace):
        lines += [f"{i * every + 1},{int(r)},{int(c)},{float(w[0])!r},{float(w[1])!r},{float(w[2])!r}"
                  for (r, c), w in zip(synapses, per_image)]
    return "\n".join(lines) + "\n"


def write_run(run_dir: str | Path, metrics: dict, trace: np.ndarray | None = None,
              trace_synapses: np.ndarray | None = None, trace_every: int = 1) -> None:
    """Write ``metrics.json``, ``metrics.csv`` (and ``trace.csv`` of ``trace`` / ``trace_synapses``,
    see :func:`trace_csv`) of a run atomically."""
    run_dir = Path(run_dir)
    write_json(metrics, run_dir / "metrics.json")
    write_text(epochs_csv(metrics["epochs"]), run_dir / "metrics.csv")
    if trace is not None:
        if trace_synapses is None:
            raise ValueError("write_run: a trace needs its trace_synapses (row, col)")
        write_text(trace_csv(trace, trace_synapses, trace_every), run_dir / "trace.csv")
