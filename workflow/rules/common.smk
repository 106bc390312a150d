# Helpers shared by the .smk files (result paths, final targets). Paths and names come from
# dwsynapse.layout, which the package's readers use as well.
from dwsynapse.config import RULE_CONFIG, config_digest
from dwsynapse.layout import CHUNK_FILE, MNIST_FILES, QUANTIZED_TRAINING, RUN, SELECTION_RUN, results_path, run_paths
from dwsynapse.layout import control_reproduction_path
from dwsynapse.layout import device_stats_path as _device_stats_path


def control_reproduction():
    """The learning control's reproduction CSV (`make control`) when it exists, else no input: the table
    then has no control column, and making the control later re-runs the table."""
    path = control_reproduction_path(config)
    return str(path) if path.exists() else []


def res(*parts):
    """A path under the configured results directory, as a string for Snakemake."""
    return str(results_path(config, *parts))


def device_stats_path():
    """The device-statistics file training reads: a user-supplied one, or the device stage's."""
    return str(_device_stats_path(config))


def all_targets():
    """Every output a default run must produce."""
    targets = [
        res("train", "baseline", "metrics.json"),
        res("train", "baseline", "learning_curve.png"),
    ]
    targets += [device_stats_path(), res("device", "summary.csv")]  # device stage (device.smk)
    targets += training_grid_targets()  # in-situ and ex-situ runs of train.insitu / train.exsitu (train.smk)
    targets += REPORT_TARGETS  # figures, energy tables, reproduction table (report.smk)
    return targets


def training_grid_targets():
    """metrics.json of every in-situ and ex-situ run in the config's grid (dwsynapse.layout.run_paths)."""
    rp = run_paths(config)
    return [str(d / "metrics.json") for d in (*rp.insitu.values(), *rp.exsitu.values())]


def exsitu_trained(wildcards):
    """The trained network an ex-situ run programs: baseline (a), quantized (b) or stochastic (c).

    Training (c) is Algorithm 1 in software with the same seed, device model and alpha as the
    in-situ run of that (states, alpha), so where the in-situ grid has that run its network is
    programmed instead of training the same network a second time."""
    if wildcards.method == "float":
        return {"weights": rules.train_baseline.output.weights, "training": rules.train_baseline.output.metrics}
    insitu = run_paths(config).insitu.get((int(wildcards.states), float(wildcards.alpha)))
    if wildcards.method == "stochastic" and insitu is not None:
        return {"weights": str(insitu / "weights.npz"), "training": str(insitu / "metrics.json")}
    if wildcards.method == "quantized":
        d = ("train", "exsitu", "quantized", QUANTIZED_TRAINING.format(states=wildcards.states))
    else:
        d = ("train", "exsitu", "stochastic", RUN.format(states=wildcards.states, alpha=wildcards.alpha), "training")
    return {"weights": res(*d, "weights.npz"), "training": res(*d, "training.json")}
