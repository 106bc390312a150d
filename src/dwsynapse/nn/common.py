"""Helpers shared by the baseline, in-situ and ex-situ commands: settings and synapses from config,
metrics header, the learning-curve figure and the command-line plumbing."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from dwsynapse.nn.devicemodel import DeviceConfig, DeviceVariant, load_device_model
from dwsynapse.nn.synapse import DeviceSynapse, check_initial_programming
from dwsynapse.nn.trainer import TraceSpec, TrainResult, TrainSettings
from dwsynapse.settings import device_settings


def device_config(config: dict, states: int, alpha: float) -> DeviceConfig:
    """The :class:`DeviceConfig` of ``states`` and ``alpha`` with sampling, cap and device variant
    (``train.device_variant``: instances, spread_scale, level0_shift; resampling seeded by train.seed)
    from ``config['train']`` and the programming Ku values from ``device.ku_values``."""
    t = config["train"]
    v = t["device_variant"]
    variant = DeviceVariant(instances=v["instances"], spread_scale=float(v["spread_scale"]),
                            level0_shift=float(v["level0_shift"]), seed=int(t["seed"]))
    return DeviceConfig(states=int(states), alpha=float(alpha), sampling=t["device_sampling"],
                        max_program_attempts=int(t["exsitu"]["max_program_attempts"]),
                        variant=variant, ku_values=device_settings(config).ku_values)


def configured_initial_programming(config: dict) -> str:
    """How devices start (``train.initial_programming``: 'program', the default, or 'ideal'; see
    :class:`dwsynapse.nn.synapse.DeviceSynapse`): the one place the key is read."""
    return check_initial_programming(config["train"]["initial_programming"])


def device_synapse(config: dict, stats_path: str | Path, states: int, alpha: float) -> DeviceSynapse:
    """The device synapse of a run: the device model of ``stats_path`` for :func:`device_config`
    ``(config, states, alpha)``, starting as ``train.initial_programming`` says."""
    return DeviceSynapse(load_device_model(stats_path, device_config(config, states, alpha)),
                         configured_initial_programming(config))


def trace_spec(config: dict) -> TraceSpec | None:
    """The synapses to trace (config ``train.trace_synapse``: layer, count, images, every), or None.

    Which synapses of the layer are traced follows from ``train.seed``
    (:func:`dwsynapse.nn.trainer.trace_synapses`)."""
    ts = config["train"]["trace_synapse"]
    if not ts:
        return None
    stale = sorted(set(ts) & {"row", "col"})
    if stale:
        raise ValueError(f"train.trace_synapse: {stale} are no longer used; give 'count' (how many synapses of "
                         "the layer to trace, chosen from train.seed) instead")
    unknown = sorted(set(ts) - {"layer", "count", "images", "every"})
    if unknown:
        raise ValueError(f"train.trace_synapse: unknown keys {unknown}; expected layer, count, images, every")
    # TraceSpec checks the values (integers, ranges) with messages naming the config key
    missing = [name for name in ("layer", "count", "images", "every") if name not in ts]
    if missing:
        raise ValueError(f"train.trace_synapse: {missing} missing; give layer, count, images and every")
    return TraceSpec(**ts)


def run_header(method: str, settings: TrainSettings, result: TrainResult, n_train: int, n_test: int,
               states: int | None = None, alpha: float | None = None, *, initial_programming: str) -> dict:
    """Keys every ``metrics.json`` has (see the training-results contract). ``settings`` lists the
    training hyper-parameters and ``initial_programming`` (the config's ``train.initial_programming``,
    :func:`configured_initial_programming`), as every run has recorded them."""
    return {
        "method": method,
        "states": states,
        "alpha": alpha,
        "seed": settings.seed,
        "n_train": int(n_train),
        "n_test": int(n_test),
        "wall_time_s": float(result.wall_time_s),
        "epochs": result.epochs,
        "final_train_acc": result.epochs[-1]["train_acc"],
        "final_test_acc": result.epochs[-1]["test_acc"],
        "settings": {**{k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(settings).items()},
                     "initial_programming": check_initial_programming(initial_programming)},
        "layer_sizes": list(result.layout.sizes),
    }


def plot_learning_curve(epochs: list[dict], path: str | Path, title: str) -> None:
    """Train and test accuracy [%] per epoch as a PNG at ``path`` (written atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from dwsynapse.io import atomic_path

    e = [r["epoch"] for r in epochs]
    fig, ax = plt.subplots(figsize=(4.5, 3.2), dpi=150)
    ax.plot(e, [100 * r["train_acc"] for r in epochs], "o-", label="train")
    ax.plot(e, [100 * r["test_acc"] for r in epochs], "s-", label="test")
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy (%)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def add_train_arguments(p, mnist_default: str = "results/data/mnist") -> None:
    """``--config``, ``--log``, ``--mnist`` and ``--out`` of every training sub-command."""
    from dwsynapse.command import add_common_arguments

    add_common_arguments(p)
    p.add_argument("--mnist", default=mnist_default, help="directory with the four IDX files (default: %(default)s)")
