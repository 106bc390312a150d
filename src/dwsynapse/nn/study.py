"""Studies of the choices the paper leaves open (``make study-learning``) and of the device
(``make device-sensitivity``); neither is part of ``make run``. Results under ``<results_dir>/study/``.

*learning* varies one choice at a time around the config's ``train`` values, for the float network,
in-situ training (Algorithm 1) and ex-situ (c) (the in-situ network programmed by read-verify-write),
``states`` x ``alphas`` x ``seeds`` of the grid ``study.<study.grid>``. The choices (:data:`FACTORS`):

- ``init``: ``fan_in`` (N(0, 1/sqrt(fan_in))) or a fixed sigma (N(0, sigma) in every layer);
- ``initial_programming``: ``program`` (one pulse per device, as the hardware would) or ``ideal``;
- ``device_sampling``: ``empirical`` or ``kde``;
- ``instances``: <mz> samples per Ku behind the device model (the file's first ones, or all of them
  plus seeded KDE draws, :class:`dwsynapse.nn.devicemodel.DeviceVariant`).

Only ``init`` changes the float network, so float runs are made along ``init`` only, around the config's
``train.float_init``; the in-situ runs vary around ``train.init`` and the other choices.

*sensitivity* trains in situ with ``study.sensitivity.states`` / ``alpha`` on the calibrated statistics
changed in a controlled way (:data:`SENSITIVITY_FACTORS`): every level's spread scaled, level 0 shifted.

Each point is one cached run folder ``study/<study>/runs/<name>/`` (the run's own metrics.json plus a
``point.json`` summary). :func:`choose_defaults` applies :data:`RULE` to the learning study;
:func:`dwsynapse.plots.study.write_study` writes a study's table, figure and summary.
"""

from __future__ import annotations

import copy
import json
import logging
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from dwsynapse.io import write_json
from dwsynapse.nn.network import init_keys

log = logging.getLogger(__name__)

STUDIES = ("learning", "sensitivity")
FACTORS = ("init", "initial_programming", "device_sampling", "instances")
SENSITIVITY_FACTORS = ("spread_scale", "level0_shift")
METHOD_LABELS = ("float", "in-situ", "ex-situ (c)")
# The kind of network a choice is made for, and the study methods that measure it: the float network
# (baseline, ex-situ (a)) and networks trained through device weights (in-situ, ex-situ (c); ex-situ (b),
# trained through quantized weights, takes their values).
NETWORKS = {"float": ("float",), "device-trained": ("in-situ", "ex-situ (c)")}
RULE = ("For every open choice and each kind of network (the float network; networks trained through quantized "
        "or device weights), take the value with the highest mean final test accuracy over that kind's study runs "
        "that vary it (float; or in-situ and ex-situ (c), every number of states, alpha and seed); a float network "
        "must reach study.float_floor, trained as long as the float baseline. A value replaces the config's only "
        "when its mean paired gain over the config's value (same run, states, alpha and seed) exceeds one standard "
        "error of that gain. The values then serve every run of that kind, the float baseline included.")


@dataclass(frozen=True)
class StudyPoint:
    """One training run of a study: method ('float' or 'insitu'), device and the free choices."""

    method: str
    seed: int
    init: str  # 'fan_in' or a fixed sigma such as '0.25'
    initial_programming: str = "program"
    device_sampling: str = "empirical"
    instances: int | None = None
    states: int | None = None
    alpha: float | None = None
    spread_scale: float = 1.0
    level0_shift: float = 0.0

    @property
    def name(self) -> str:
        """Run-folder name, unique per set of values (a float run names only what it depends on)."""
        if self.method == "float":
            return f"float_init{self.init}_seed{self.seed}"
        n = "all" if self.instances is None else str(self.instances)
        return (f"insitu_{self.states}state_alpha{self.alpha:.2f}_init{self.init}_{self.initial_programming}_"
                f"{self.device_sampling}_n{n}_spread{self.spread_scale:g}_zero{self.level0_shift:+g}_seed{self.seed}")

    def value(self, factor: str) -> str:
        """This point's value of ``factor`` as a label (``all`` for the file's own instances)."""
        v = getattr(self, factor)
        return "all" if v is None else (f"{v:g}" if isinstance(v, float) else str(v))


def init_label(train: dict, *, float_network: bool = False) -> str:
    """``fan_in`` or the fixed sigma of a ``train`` config section's init (``float_init`` for the float
    network), as :attr:`StudyPoint.init`."""
    init, init_std = init_keys(float_network=float_network)
    return "fan_in" if train[init] == "normal_fan_in" else f"{float(train[init_std]):g}"


def _with(values: list, reference) -> list:
    """A sweep's values, the reference (the config's value, the rule's baseline) first if it is not among them."""
    return values if reference in values else [reference, *values]


def _reference(config: dict) -> dict:
    """The config's values of every choice: the centre of the one-at-a-time sweeps (``float_init``: the
    float network's init)."""
    t = config["train"]
    v = t["device_variant"]
    return {"init": init_label(t), "float_init": init_label(t, float_network=True),
            "initial_programming": t["initial_programming"],
            "device_sampling": t["device_sampling"], "instances": v["instances"],
            "spread_scale": float(v["spread_scale"]), "level0_shift": float(v["level0_shift"])}


def study_settings(config: dict, study: str) -> dict:
    """The grid section of ``study``: ``study.<study.grid>`` (learning) or ``study.sensitivity``."""
    if study not in STUDIES:
        raise ValueError(f"study must be one of {STUDIES}, got {study!r}")
    s = config["study"]
    return s[s["grid"]] if study == "learning" else s["sensitivity"]


def grid(config: dict, study: str) -> list[tuple[str, StudyPoint]]:
    """(factor, point) of every run of ``study``; the reference point appears under every factor."""
    g = study_settings(config, study)
    ref = _reference(config)
    out = []
    if study == "sensitivity":
        for seed in g["seeds"]:
            centre = StudyPoint("insitu", int(seed), ref["init"], ref["initial_programming"], ref["device_sampling"],
                                ref["instances"], int(g["states"]), float(g["alpha"]))
            out += [("spread_scale", replace(centre, spread_scale=float(x))) for x in g["spread_scales"]]
            out += [("level0_shift", replace(centre, level0_shift=float(x))) for x in g["level0_shifts"]]
        return out
    for seed in g["seeds"]:
        base = {k: ref[k] for k in FACTORS}
        for factor in FACTORS:
            values = [str(v) if factor == "init" else v for v in g[factor]]
            for v in _with(values, ref[factor]):
                chosen = {**base, factor: v}
                out += [(factor, StudyPoint("insitu", int(seed), states=int(s), alpha=float(a), **chosen))
                        for s in g["states"] for a in g["alphas"]]
        out += [("init", StudyPoint("float", int(seed), v)) for v in _with([str(v) for v in g["init"]], ref["float_init"])]
    return out


def points(config: dict, study: str) -> dict[str, StudyPoint]:
    """Run-folder name -> point, every run of ``study`` once."""
    return {p.name: p for _, p in grid(config, study)}


def run_dir(config: dict, study: str, name: str) -> Path:
    return Path(config["results_dir"]) / "study" / study / "runs" / name


def point_files(config: dict, study: str) -> list[str]:
    """``point.json`` of every run of ``study`` (the inputs of its table)."""
    return [str(run_dir(config, study, n) / "point.json") for n in points(config, study)]


def point_settings(config: dict, study: str, point: StudyPoint) -> dict:
    """The study settings a point's run depends on (beyond its own values): its epochs, its training-set
    size (None = ``mnist.n_train``) and, for an in-situ point, the number of programmings of its network.

    A float point trains as long as the float baseline (``float_epochs``, null = ``train.epochs``): the
    rule's ``study.float_floor`` is the baseline's accuracy, which a shorter run does not measure."""
    g = study_settings(config, study)
    if point.method == "float":
        fe = g["float_epochs"]
        return {"epochs": int(config["train"]["epochs"] if fe is None else fe), "n_train": g["n_train"]}
    return {"epochs": int(g["epochs"]), "n_train": g["n_train"],
            "programming_trials": int(config["study"]["programming_trials"])}


def point_config(config: dict, study: str, point: StudyPoint) -> dict:
    """``config`` with the point's train choices, its :func:`point_settings` and no trace."""
    g = point_settings(config, study, point)
    cfg = copy.deepcopy(config)
    t = cfg["train"]
    init, init_std = init_keys(float_network=point.method == "float")
    fan_in = point.init == "fan_in"
    t.update({init: "normal_fan_in" if fan_in else "normal_fixed", init_std: None if fan_in else float(point.init)})
    t.update(seed=point.seed, epochs=int(g["epochs"]), initial_programming=point.initial_programming,
             device_sampling=point.device_sampling, trace_synapse=None,
             device_variant={"instances": point.instances, "spread_scale": point.spread_scale,
                             "level0_shift": point.level0_shift})
    if g["n_train"] is not None:
        cfg["mnist"]["n_train"] = int(g["n_train"])
    return cfg


def run_point(config: dict, study: str, name: str, mnist_dir: str | Path, stats_path: str | Path,
              out_dir: str | Path) -> dict:
    """Train point ``name`` of ``study`` into ``out_dir``; for an in-situ point also program its network
    ``study.programming_trials`` times (ex-situ (c)). Writes and returns ``point.json``: the point's
    values, final test accuracy, and for in-situ the ex-situ (c) hardware accuracy (mean, std), its
    software accuracy (the device weights at the end of training) and that of W_q alone."""
    from dwsynapse.nn.baseline import run_baseline
    from dwsynapse.nn.common import device_config
    from dwsynapse.nn.devicemodel import load_device_model
    from dwsynapse.nn.exsitu import program_trials
    from dwsynapse.nn.insitu import run_insitu
    from dwsynapse.nn.network import load_weights
    from dwsynapse.nn.quantize import quantize
    from dwsynapse.nn.trainer import accuracy, load_data

    point = points(config, study)[name]
    cfg = point_config(config, study, point)
    data = load_data(cfg, mnist_dir)
    out_dir = Path(out_dir)
    row = {"name": name, **asdict(point)}
    if point.method == "float":
        m = run_baseline(cfg, data, out_dir)
    else:
        m = run_insitu(cfg, data, stats_path, point.states, point.alpha, out_dir)
        layout, w = load_weights(out_dir / "weights.npz")
        device = load_device_model(stats_path, device_config(cfg, point.states, point.alpha))
        trials = point_settings(config, study, point)["programming_trials"]
        hw = program_trials(layout, w["w_fp"], device, data, trials, point.seed)
        row.update(exsitu_hardware_acc=hw["hardware_test_acc_mean"], exsitu_hardware_std=hw["hardware_test_acc_std"],
                   exsitu_software_acc=accuracy(layout, w["w_dev"], data.x_test, data.y_test),
                   wq_test_acc=accuracy(layout, quantize(w["w_fp"], point.states), data.x_test, data.y_test),
                   total_pulses=m["total_pulses"], device_warnings=m["device"]["warnings"])
    row.update(test_acc=m["final_test_acc"], test_acc_per_epoch=[e["test_acc"] for e in m["epochs"]],
               n_train=m["n_train"], epochs=len(m["epochs"]), wall_time_s=m["wall_time_s"])
    write_json(row, out_dir / "point.json")
    log.info("study %s %s: test %.4f%s", study, name, row["test_acc"],
             f", ex-situ (c) {row['exsitu_hardware_acc']:.4f}" if "exsitu_hardware_acc" in row else "")
    return row


def load_rows(config: dict, study: str) -> list[dict]:
    """One row per (factor, point, method label) with its accuracy, from the points' ``point.json``."""
    from dwsynapse.results import ResultsError

    rows = []
    for factor, p in grid(config, study):
        path = run_dir(config, study, p.name) / "point.json"
        if not path.exists():
            raise ResultsError(f"{path}: study point not found (run `make study-learning` / `make device-sensitivity`)")
        r = json.loads(path.read_text())
        common = {"factor": factor, "value": p.value(factor), "states": p.states, "alpha": p.alpha, "seed": p.seed}
        if p.method == "float":
            rows.append({**common, "method": "float", "acc": r["test_acc"]})
            continue
        rows.append({**common, "method": "in-situ", "acc": r["test_acc"]})
        rows.append({**common, "method": "ex-situ (c)", "acc": r["exsitu_hardware_acc"],
                     "software_acc": r["exsitu_software_acc"], "wq_acc": r["wq_test_acc"]})
    return rows


def aggregate(rows: list[dict]) -> list[dict]:
    """Mean and std over seeds per (factor, value, method, states, alpha), in grid order."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["factor"], r["value"], r["method"], r["states"], r["alpha"]), []).append(r)
    out = []
    for (factor, value, method, states, alpha), rs in groups.items():
        acc = np.array([r["acc"] for r in rs])
        row = {"factor": factor, "value": value, "method": method, "states": states, "alpha": alpha,
               "n_seeds": len(rs), "acc_mean": float(acc.mean()), "acc_std": float(acc.std())}
        for k in ("software_acc", "wq_acc"):  # ex-situ (c) only
            row[f"{k}_mean"] = float(np.mean([r[k] for r in rs])) if k in rs[0] else None
        out.append(row)
    return out


def choose_defaults(config: dict, rows: list[dict]) -> list[dict]:
    """:data:`RULE` applied to the learning study's ``rows`` (:func:`load_rows`): per kind of network
    (:data:`NETWORKS`) and factor the chosen value, the config's value, and per value its mean accuracy,
    its mean paired gain over the config's value with the standard error of that gain, and whether its
    float network reaches ``study.float_floor`` (always true for a device-trained network's choice)."""
    floor = float(config["study"]["float_floor"])
    ref = _reference(config)
    out = []
    for network, methods in NETWORKS.items():
        for factor in FACTORS:
            fr = [r for r in rows if r["factor"] == factor and r["method"] in methods]
            reference = ref["float_init" if network == "float" else factor]
            current = "all" if reference is None else str(reference)  # as StudyPoint.value
            by_value: dict[str, dict] = {}
            for r in fr:
                by_value.setdefault(r["value"], {})[(r["method"], r["states"], r["alpha"], r["seed"])] = r["acc"]
            if current not in by_value:
                continue
            stats = {}
            for v, accs in by_value.items():
                gain = np.array([a - by_value[current][k] for k, a in accs.items() if k in by_value[current]])
                mean = float(np.mean(list(accs.values())))
                stats[v] = {"mean": mean, "gain": float(gain.mean()),
                            "gain_se": float(gain.std(ddof=1) / np.sqrt(gain.size)) if gain.size > 1 else 0.0,
                            "float_mean": mean if network == "float" else None,
                            "float_ok": network != "float" or mean >= floor}
            allowed = [v for v in by_value if stats[v]["float_ok"]] or list(by_value)
            best = max(allowed, key=lambda v: stats[v]["mean"])
            if best != current and current in allowed and stats[best]["gain"] <= stats[best]["gain_se"]:
                best = current
            out.append({"network": network, "factor": factor, "chosen": best, "config": current,
                        "agrees": best == current, "float_floor_met": bool(stats[best]["float_ok"]), "values": stats})
    return out


def study_outputs(config: dict, study: str) -> dict[str, str]:
    """Output files of a study's table rule, by role."""
    d = Path(config["results_dir"]) / "study" / study
    return {"table_csv": str(d / "table.csv"), "table_md": str(d / "table.md"), "summary_md": str(d / "summary.md"),
            "summary_json": str(d / "summary.json"), "png": str(d / "accuracy.png"), "pdf": str(d / "accuracy.pdf"),
            "figure_csv": str(d / "accuracy.csv")}


def study_present(config: dict, study: str) -> bool:
    """Whether ``study`` was run for this config (its figure and every point exist): the report shows it."""
    return Path(study_outputs(config, study)["png"]).exists() and all(Path(p).exists() for p in point_files(config, study))
