"""Ex-situ training: a network trained in software is programmed onto DW devices before testing.

Methods (paper §III-B-2, §IV-C):
  (a) ``float``      float training (the baseline network) -> quantize -> program;
  (b) ``quantized``  deterministic quantized training (Hubara et al.) -> program;
  (c) ``stochastic`` quantized training whose forward/backward weights are device draws kept within
                     +-alpha (the in-situ rule run in software) -> program.
(a) and (b) do not depend on alpha: they are trained once and programmed for every alpha.

Programming = read-verify-write per device: pulse at the level's Ku, read <mz>, repeat until
|W_dev - target(W_q)| <= alpha or ``max_program_attempts`` pulses; devices left at the cap are counted and
reported. The test is repeated over ``programming_trials`` independent programmings (mean, std).
"Software" accuracy is that of the exact weights the network was trained with, without programming
noise (paper §IV-C): the float weights for (a), W_q for (b), and for (c) the device weights at the end
of training (``w_train`` of the ex-situ training, ``w_dev`` of the in-situ run it reuses). The
accuracy of W_q alone is its own column (``quantized_test_acc``).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from dwsynapse.nn import kernels as K
from dwsynapse.nn.common import (add_train_arguments, configured_initial_programming, device_config, device_synapse,
                                 run_header)
from dwsynapse.nn.devicemodel import DeviceModel, load_device_model
from dwsynapse.nn.network import Layout, load_weights, save_weights
from dwsynapse.nn.quantize import level_index, quantize
from dwsynapse.nn.synapse import QuantizedSynapse
from dwsynapse.nn.trainer import (Data, TrainSettings, accuracy, load_data, remove_checkpoint, seed_key, train,
                                  write_run)

log = logging.getLogger(__name__)

METHODS = ("float", "quantized", "stochastic")
_TRIAL_PURPOSE = 1000  # seed purposes 1000 + trial: programming trials, disjoint from training draws


def train_model(config: dict, data: Data, method: str, states: int, out_dir: str | Path,
                stats_path: str | Path | None = None, alpha: float | None = None) -> dict:
    """Train the software network of method (b) ``quantized`` or (c) ``stochastic`` into ``out_dir``.

    Writes ``weights.npz`` (w_fp) and ``training.json`` (per-epoch software accuracies; for (c) also
    the pulses the stochastic training model draws). Method (a) uses the float baseline instead.
    """
    if method not in ("quantized", "stochastic"):
        raise ValueError(f"ex-situ training method must be 'quantized' or 'stochastic' (float uses the baseline), got {method!r}")
    out_dir = Path(out_dir)
    settings = TrainSettings.from_config(config["train"], float_network=False)
    if method == "quantized":
        result = train(settings, data, QuantizedSynapse(int(states)), run_dir=out_dir)
        header = run_header("exsitu-quantized", settings, result, len(data.y_train), len(data.y_test), int(states), None,
                            initial_programming=configured_initial_programming(config))
    else:
        if stats_path is None or alpha is None:
            raise ValueError("method 'stochastic' needs the device statistics and alpha")
        synapse = device_synapse(config, stats_path, states, alpha)
        result = train(settings, data, synapse, run_dir=out_dir)
        header = run_header("exsitu-stochastic", settings, result, len(data.y_train), len(data.y_test), int(states),
                            float(alpha), initial_programming=synapse.initial_programming)
        header["device"] = synapse.device.summary()
    save_weights(out_dir / "weights.npz", result.layout, w_fp=result.w_fp, w_train=result.w_use)
    from dwsynapse.io import write_json

    write_json(header, out_dir / "training.json")
    remove_checkpoint(out_dir)
    return header


def program_trials(layout: Layout, w_fp: np.ndarray, device: DeviceModel, data: Data, trials: int, seed: int) -> dict:
    """Program ``quantize(w_fp)`` onto devices ``trials`` times (read-verify-write) and test each.

    Returns hardware accuracies per trial and the programming-attempt statistics.
    """
    cfg = device.config
    levels = level_index(w_fp, cfg.states)
    w_dev = np.empty_like(w_fp)
    attempts = np.empty(w_fp.shape, np.int64)
    accs, totals, at_cap = [], [], []
    for t in range(int(trials)):
        n_cap = K.program_verify(levels, cfg.alpha, cfg.max_program_attempts, seed_key(seed, _TRIAL_PURPOSE + t),
                                 *device.kernel_tables, w_dev, attempts)
        accs.append(accuracy(layout, w_dev, data.x_test, data.y_test))
        totals.append(int(attempts.sum()))
        at_cap.append(int(n_cap))
        log.info("programming trial %d: test accuracy %.4f, %d pulses, %d devices at the cap", t + 1, accs[-1],
                 totals[-1], n_cap)
    return {
        "hardware_test_acc": accs,
        "hardware_test_acc_mean": float(np.mean(accs)),
        "hardware_test_acc_std": float(np.std(accs)),
        "program_attempts": {
            "per_trial_total": totals,
            "mean_per_device": float(np.mean(totals) / w_fp.size),
            "cap": int(cfg.max_program_attempts),
            "devices_at_cap": int(max(at_cap)),
            "devices_at_cap_per_trial": at_cap,
        },
    }


def software_weights(method: str, arrays: dict[str, np.ndarray], w_q: np.ndarray) -> np.ndarray:
    """The weights the network of ``method`` computed with at the end of its training (its "software"
    network): float ``w_fp`` for (a), ``w_q`` for (b), the device weights for (c) (``w_train`` of
    :func:`train_model` or ``w_dev`` of an in-situ run)."""
    if method == "float":
        return arrays["w_fp"]
    if method == "quantized":
        return w_q
    for key in ("w_train", "w_dev"):
        if key in arrays:
            return arrays[key]
    raise ValueError(f"ex-situ (c): the trained weights file has no device weights (w_train or w_dev), only {sorted(arrays)}")


def run_program(config: dict, data: Data, method: str, states: int, alpha: float, weights_path: str | Path,
                training_metrics_path: str | Path, stats_path: str | Path, out_dir: str | Path) -> dict:
    """Program a trained ex-situ network (``weights_path``) for ``states`` / ``alpha``, test it, write metrics.

    ``training_metrics_path`` is the training run's metrics (baseline ``metrics.json`` for (a),
    ``training.json`` for (b)/(c)); its per-epoch software accuracies are copied into the result.
    """
    if method not in METHODS:
        raise ValueError(f"ex-situ method must be one of {METHODS}, got {method!r}")
    layout, arrays = load_weights(weights_path)
    w_fp = arrays["w_fp"]
    training = json.loads(Path(training_metrics_path).read_text())
    settings = TrainSettings.from_config(config["train"], float_network=method == "float")
    device = load_device_model(stats_path, device_config(config, states, alpha))
    trials = int(config["train"]["exsitu"]["programming_trials"])
    w_q = quantize(w_fp, states)
    w_soft = software_weights(method, arrays, w_q)
    software_acc = accuracy(layout, w_soft, data.x_test, data.y_test)
    result = program_trials(layout, w_fp, device, data, trials, settings.seed)
    metrics = {
        "method": f"exsitu-{method}",
        "states": int(states),
        "alpha": float(alpha),
        "seed": settings.seed,
        "n_train": training["n_train"],
        "n_test": int(len(data.y_test)),
        "wall_time_s": training["wall_time_s"],
        "epochs": training["epochs"],
        "final_train_acc": training["final_train_acc"],
        "final_test_acc": training["final_test_acc"],
        "software_test_acc": software_acc,
        "software_weights": {"float": "w_fp (float)", "quantized": "W_q"}.get(method, "device weights at the end of training"),
        "quantized_test_acc": accuracy(layout, w_q, data.x_test, data.y_test),
        "programming_trials": trials,
        "device": device.summary(),
        "trained_from": str(weights_path),
        "settings": training.get("settings"),
        **result,
    }
    write_run(out_dir, metrics)
    log.info("ex-situ %s %d-state alpha=%g: software %.4f, hardware %.4f +- %.4f, %.2f pulses/device", method, states,
             alpha, software_acc, metrics["hardware_test_acc_mean"], metrics["hardware_test_acc_std"],
             metrics["program_attempts"]["mean_per_device"])
    return metrics


def register(sub) -> None:
    p = sub.add_parser("train-exsitu", help="train an ex-situ network: (b) quantized or (c) quantized+stochastic",
                       description="Software training of ex-situ methods (b)/(c); (a) uses train-baseline.")
    add_train_arguments(p)
    p.add_argument("--method", required=True, choices=("quantized", "stochastic"))
    p.add_argument("--states", type=int, required=True, choices=(2, 3, 5))
    p.add_argument("--alpha", type=float, default=None, help="noise-tolerance margin (stochastic only)")
    p.add_argument("--device-stats", default=None, help="device_stats.h5 (stochastic only)")
    p.add_argument("--out", required=True, help="training folder")
    p.set_defaults(func=_run_train_cli)

    q = sub.add_parser("program-exsitu", help="program a trained ex-situ network onto DW devices and test it",
                       description="Read-verify-write programming within +-alpha, repeated over programming trials.")
    add_train_arguments(q)
    q.add_argument("--method", required=True, choices=METHODS)
    q.add_argument("--states", type=int, required=True, choices=(2, 3, 5))
    q.add_argument("--alpha", type=float, required=True)
    q.add_argument("--weights", required=True, help="weights.npz of the trained network")
    q.add_argument("--training-metrics", required=True, help="metrics.json / training.json of that training")
    q.add_argument("--device-stats", required=True)
    q.add_argument("--out", required=True, help="run folder")
    q.set_defaults(func=_run_program_cli)


def _run_train_cli(args) -> int:
    from dwsynapse.command import start_command

    config = start_command(args)
    train_model(config, load_data(config, args.mnist), args.method, args.states, args.out, args.device_stats, args.alpha)
    return 0


def _run_program_cli(args) -> int:
    from dwsynapse.command import start_command

    config = start_command(args)
    run_program(config, load_data(config, args.mnist), args.method, args.states, args.alpha, args.weights,
                args.training_metrics, args.device_stats, args.out)
    return 0
