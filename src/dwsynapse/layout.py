"""Where a config's results live: folder and file names, run-folder templates, the device-statistics path.

The Snakemake rules (``workflow/rules/*.smk``) and the package build their paths from here, so a
rule's output and the code that reads it cannot disagree. Standard library only: parsing the
Snakefile imports this module. Layout under ``<results_dir>``::

    data/mnist/<IDX files>                 MNIST, checksummed
    device/device_stats.h5                 device statistics (or device.stats_file)
    device/chunks/<group>/chunk_<i>.h5     one device-stage job; device/initial_state.h5 (Fig. 1a)
    train/baseline/                        float baseline
    train/insitu/<s>state_alpha<a>/        in-situ run per (states, alpha)
    train/exsitu/<method>/<s>state_alpha<a>/   ex-situ programming per (method, states, alpha)
    train/selection/<L>layers_ratio<r>_eta<eta>/  network-selection point (Fig. S1)
    report/figures/, report/energy/, report/reproduction.{md,csv}, report/<summary>.rst
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

# Run-folder templates (the .smk files use them with Snakemake wildcards, the package with values)
RUN = "{states}state_alpha{alpha}"  # an in-situ run / an ex-situ programming run of (states, alpha)
QUANTIZED_TRAINING = "{states}state_training"  # ex-situ (b): quantized training, one per number of states
SELECTION_RUN = "{layers}layers_ratio{ratio}_eta{eta}"  # a point of the network-selection grid
CHUNK_FILE = "chunk_{chunk}.h5"  # one device-stage job, under device/chunks/<group>/
# data/mnist/: the four IDX files (train images, train labels, test images, test labels)
MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")

# report/figures/: figure key -> file stem (PNG, PDF and the CSV of the data behind it)
FIGURES = {
    "fig1_device": "fig1cd_device_distributions",
    "fig3_insitu": "fig3_insitu_accuracy",
    "fig4_writes": "fig4_device_writes",
    "fig5_weights": "fig5_weight_evolution",
    "fig6_exsitu": "fig6_exsitu_accuracy",
    "fig7_cdf": "fig7_weight_cdf",
    "figS3_offline": "figS3_offline_epochs",
    "figS4_alpha": "figS4_alpha_sweep",
    "fig1a_racetrack": "fig1a_racetrack_initial_state",
    "figS2_final_maps": "figS2_final_states",
    "figS5_energy": "figS5_energy_breakdown",
    "figS1_selection": "figS1_network_selection",
}
DEVICE_FIGURES = ("fig1_device", "fig7_cdf")
MAP_FIGURES = ("fig1a_racetrack", "figS2_final_maps")  # need the device stage's own outputs (not device.stats_file)
# Figure -> report category of every plot rule report.smk generates from this table (rule
# plot_<figure>, its declared config RULE_CONFIG["plot_<figure>"]); Fig. 7 has its own rule because it
# also writes the level table.
GENERATED_PLOT_RULES = {
    "fig1_device": "Device",
    "fig1a_racetrack": "Device",
    "fig3_insitu": "In-situ training",
    "fig4_writes": "In-situ training",
    "fig5_weights": "In-situ training",
    "fig6_exsitu": "Ex-situ training",
    "figS1_selection": "Supplementary",
    "figS2_final_maps": "Supplementary",
    "figS3_offline": "Supplementary",
    "figS4_alpha": "Supplementary",
    "figS5_energy": "Energy",
}
SUPPLEMENTARY = ("figS1_selection",)  # `make supplementary`, not part of the default run
LEVEL_TABLE = "fig7_level_probability"  # report/figures/: the Fig. 7 table (.csv, .md)

# report/energy/: energy table -> file name
ENERGY_OUTPUTS = {
    "write_csv": "energy_per_write.csv",
    "write_md": "energy_per_write.md",
    "programming_csv": "programming_energy.csv",
    "programming_md": "programming_energy.md",
    "system_csv": "system_energy.csv",
    "system_md": "system_energy.md",
    "json": "energy.json",
}
REPRODUCTION = ("reproduction.md", "reproduction.csv")  # report/: the paper-vs-reproduction table
WORKFLOW_SUMMARY = "workflow_summary.rst"  # report/: included by workflow/report/workflow.rst (the report's first page)
RUN_FACTS = "run_facts.rst"  # report/: included by every figure caption under workflow/report/


def results_path(config: dict, *parts: str) -> Path:
    """``<results_dir>/<parts...>``."""
    return Path(config["results_dir"]).joinpath(*parts)


CONTROL_DIR = "control"  # <results_dir>/control/: `make control`, the grid trained on a synthetic near-paper device


def control_reproduction_path(config: dict) -> Path:
    """The paper-vs-reproduction CSV of the learning control run (``make control``) of this results folder."""
    return results_path(config, CONTROL_DIR, "report", REPRODUCTION[1])


def device_stats_path(config: dict) -> Path:
    """The device-statistics file a config's training reads: ``device.stats_file`` if set, else
    the device stage's ``<results_dir>/device/device_stats.h5``."""
    return Path(config["device"]["stats_file"] or results_path(config, "device", "device_stats.h5"))


def chunk_dir(config: dict) -> Path:
    """Folder of the device stage's chunk files: ``<results_dir>/device/chunks``."""
    return results_path(config, "device", "chunks")


def initial_state_path(config: dict) -> Path:
    """Where the device stage writes the relaxed initial states: ``<results_dir>/device/initial_state.h5``."""
    return results_path(config, "device", "initial_state.h5")


def alpha_tag(alpha: float) -> str:
    """Directory tag of a noise margin, e.g. 0.15 -> ``'0.15'``."""
    return f"{float(alpha):.2f}"


def run_name(states: int, alpha: float) -> str:
    """Folder name of a run of (states, alpha), e.g. ``5state_alpha0.15``."""
    return RUN.format(states=int(states), alpha=alpha_tag(alpha))


@dataclass
class RunPaths:
    """Result directories of every training run a config asks for (keys -> directory)."""

    baseline: Path
    insitu: dict = field(default_factory=dict)  # (states, alpha) -> dir
    exsitu: dict = field(default_factory=dict)  # (method, states, alpha) -> dir


def _excluded(section: dict) -> set[tuple[int, float]]:
    """(states, alpha) pairs that ``section['exclude']`` removes from a training grid."""
    return {(int(e["states"]), float(e["alpha"])) for e in section["exclude"]}


def run_paths(config: dict) -> RunPaths:
    """The training-run directories of ``config`` under ``<results_dir>/train``.

    The grid is states x alphas (x methods for ex-situ) minus the ``exclude`` entries of
    ``train.insitu`` / ``train.exsitu``; the Snakefile's targets come from here as well.
    """
    root = results_path(config, "train")
    tr = config["train"]
    ins, exs = tr["insitu"], tr["exsitu"]
    ins_skip, exs_skip = _excluded(ins), _excluded(exs)
    insitu = {
        (int(s), float(a)): root / "insitu" / run_name(s, a)
        for s in ins["states"] for a in ins["alphas"] if (int(s), float(a)) not in ins_skip
    }
    exsitu = {
        (m, int(s), float(a)): root / "exsitu" / m / run_name(s, a)
        for m in exs["methods"] for s in exs["states"] for a in exs["alphas"]
        if (int(s), float(a)) not in exs_skip
    }
    return RunPaths(baseline=root / "baseline", insitu=insitu, exsitu=exsitu)


def all_alphas(config: dict) -> list[float]:
    """Every noise margin of the config's in-situ and ex-situ grids, sorted."""
    tr = config["train"]
    return sorted({float(a) for a in tr["exsitu"]["alphas"]} | {float(a) for a in tr["insitu"]["alphas"]})


def training_metric_paths(config: dict) -> list[str]:
    """metrics.json of every training run the config asks for (baseline, in-situ, ex-situ)."""
    rp = run_paths(config)
    return [str(d / "metrics.json") for d in (rp.baseline, *rp.insitu.values(), *rp.exsitu.values())]


def trace_keys(config: dict) -> list[tuple[int, float]]:
    """The in-situ runs whose synapse trace Fig. 5 shows: the most states, every alpha."""
    rp = run_paths(config)
    if not rp.insitu:
        return []
    s_max = max(s for s, _ in rp.insitu)
    return sorted(k for k in rp.insitu if k[0] == s_max)


def wanted_figures(config: dict) -> list[str]:
    """The figure names a default run of a config produces (only what its training grid runs; the
    m_z maps only when it runs the device stage itself). Not the supplementary ones (S1)."""
    rp = run_paths(config)
    names = ["fig1_device", "fig7_cdf", "figS5_energy"]
    if not config["device"]["stats_file"]:
        names += list(MAP_FIGURES)
    if rp.insitu:
        names += ["fig3_insitu", "fig4_writes", "fig5_weights"]
    if rp.exsitu:
        names += ["fig6_exsitu", "figS3_offline"]
    if len({a for _, a in rp.insitu} | {a for m, _, a in rp.exsitu if m == "stochastic"}) >= 2:
        names.append("figS4_alpha")
    return names


def figure_dir(config: dict) -> Path:
    """``<results_dir>/report/figures``."""
    return results_path(config, "report", "figures")


def energy_path(config: dict, table: str) -> Path:
    """An energy table (a key of :data:`ENERGY_OUTPUTS`) under ``<results_dir>/report/energy``."""
    return results_path(config, "report", "energy", ENERGY_OUTPUTS[table])
