"""In-situ training (paper Algorithm 1): the network trains and is tested on (simulated) DW devices.

Forward and backward passes use the device weights; the high-precision weights accumulate the
updates; after each update a device is re-programmed with one pulse only when |W_dev - target(W_q)| > alpha
(:func:`dwsynapse.levels.programming_target`).
Per epoch: pulses (total and per layer) and the online train/test accuracy with the device weights.
Writes ``metrics.json``, ``metrics.csv``, ``trace.csv`` (the traced synapses over the first images,
long format image,row,col,w_fp,w_q,w_dev; see ``train.trace_synapse``) and ``weights.npz``
(w_fp, w_dev) into ``results/train/insitu/<S>state_alpha<a>/``.
"""

from __future__ import annotations

import logging
from pathlib import Path

from dwsynapse.layout import results_path, run_name
from dwsynapse.nn.common import add_train_arguments, device_synapse, run_header, trace_spec
from dwsynapse.nn.network import save_weights
from dwsynapse.nn.trainer import Data, TrainSettings, load_data, remove_checkpoint, train, write_run

log = logging.getLogger(__name__)


def run_insitu(config: dict, data: Data, stats_path: str | Path, states: int, alpha: float, out_dir: str | Path) -> dict:
    """Train in situ with ``states``-state devices and tolerance ``alpha``; write the run into ``out_dir``.

    ``total_pulses`` counts every programming pulse: the initial programming (``initial_pulses``,
    one per device unless train.initial_programming is 'ideal') plus all training pulses.
    """
    out_dir = Path(out_dir)
    settings = TrainSettings.from_config(config["train"], float_network=False)
    synapse = device_synapse(config, stats_path, states, alpha)
    device = synapse.device
    log.info("in-situ %d-state alpha=%g: device levels %s", states, alpha,
             [(round(x["mean"], 3), round(x["std"], 3), round(x["hit_probability"], 3)) for x in device.summary()["levels"]])
    result = train(settings, data, synapse, run_dir=out_dir, trace=trace_spec(config))
    metrics = run_header("insitu", settings, result, len(data.y_train), len(data.y_test), int(states), float(alpha),
                         initial_programming=synapse.initial_programming)
    n_w = result.layout.n_weights
    train_pulses = sum(r["pulses"] for r in result.epochs)
    metrics.update({
        "n_weights": n_w,
        "float_writes_per_epoch": n_w * len(data.y_train),
        "initial_pulses": int(result.initial_pulses),
        "total_pulses": int(result.initial_pulses + train_pulses),
        "initial_programming": synapse.initial_programming,
        "device": device.summary(),
        "trace_synapse": config["train"]["trace_synapse"],
        "traced_synapses": result.trace_synapses.tolist() if result.trace_synapses is not None else None,
    })
    save_weights(out_dir / "weights.npz", result.layout, w_fp=result.w_fp, w_dev=result.w_use)
    write_run(out_dir, metrics, result.trace, result.trace_synapses, result.trace_every)
    remove_checkpoint(out_dir)
    log.info("in-situ %d-state alpha=%g: final train %.4f test %.4f, %d pulses, %.1f s", states, alpha,
             metrics["final_train_acc"], metrics["final_test_acc"], metrics["total_pulses"], metrics["wall_time_s"])
    return metrics


def register(sub) -> None:
    p = sub.add_parser("train-insitu", help="in-situ training on simulated DW devices (Algorithm 1)",
                       description="Train the network on n-state DW devices described by device_stats.h5.")
    add_train_arguments(p)
    p.add_argument("--device-stats", required=True, help="device_stats.h5")
    p.add_argument("--states", type=int, required=True, choices=(2, 3, 5))
    p.add_argument("--alpha", type=float, required=True, help="noise-tolerance margin")
    p.add_argument("--out", default=None, help="run folder (default: results/train/insitu/<S>state_alpha<a>)")
    p.set_defaults(func=_run_cli)


def _run_cli(args) -> int:
    from dwsynapse.command import start_command

    config = start_command(args)
    out = args.out or results_path(config, "train", "insitu", run_name(args.states, args.alpha))
    run_insitu(config, load_data(config, args.mnist), args.device_stats, args.states, args.alpha, out)
    return 0
