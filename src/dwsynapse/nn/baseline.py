"""Float baseline: 784-392-196-98-10 sigmoid network, MSE, per-sample SGD (docs/design.md "Learning rules").

Writes ``metrics.json`` / ``metrics.csv`` (per-epoch train and test accuracy), ``weights.npz``
(the learned float weights, also the starting point of ex-situ method (a)) and
``learning_curve.png`` into the run folder.
"""

from __future__ import annotations

import logging
from pathlib import Path

from dwsynapse.nn.common import add_train_arguments, configured_initial_programming, plot_learning_curve, run_header
from dwsynapse.nn.network import save_weights
from dwsynapse.nn.synapse import FloatSynapse
from dwsynapse.nn.trainer import Data, TrainSettings, load_data, remove_checkpoint, train, write_run

log = logging.getLogger(__name__)


def run_baseline(config: dict, data: Data, out_dir: str | Path) -> dict:
    """Train the float network with ``config['train']`` on ``data``; write the run into ``out_dir``.

    Resumes from ``out_dir/checkpoint.npz`` if an earlier run was interrupted. Returns the metrics.
    """
    out_dir = Path(out_dir)
    settings = TrainSettings.from_config(config["train"], float_network=True)
    log.info("float baseline: layers %s, backprop=%s, seed=%d, %d train / %d test images",
             (784, *settings.hidden, 10), settings.backprop, settings.seed, len(data.y_train), len(data.y_test))
    result = train(settings, data, FloatSynapse(), run_dir=out_dir)
    metrics = run_header("baseline", settings, result, len(data.y_train), len(data.y_test),
                         initial_programming=configured_initial_programming(config))
    save_weights(out_dir / "weights.npz", result.layout, w_fp=result.w_fp)
    write_run(out_dir, metrics)
    plot_learning_curve(result.epochs, out_dir / "learning_curve.png",
                        f"float baseline ({settings.backprop} backprop, seed {settings.seed})")
    remove_checkpoint(out_dir)
    log.info("baseline: final train %.4f, test %.4f, %.1f s", metrics["final_train_acc"], metrics["final_test_acc"],
             metrics["wall_time_s"])
    return metrics


def register(sub) -> None:
    p = sub.add_parser("train-baseline", help="train the float baseline network",
                       description="Float 784-392-196-98-10 network (config section train); writes metrics and a learning curve.")
    add_train_arguments(p)
    p.add_argument("--out", default="results/train/baseline", help="run folder (default: %(default)s)")
    p.set_defaults(func=_run_cli)


def _run_cli(args) -> int:
    from dwsynapse.command import start_command

    config = start_command(args)
    run_baseline(config, load_data(config, args.mnist), args.out)
    return 0
