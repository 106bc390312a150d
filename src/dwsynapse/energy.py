"""Energy of the DW synapse and of the network built from it (paper §IV-D, docs/design.md "Energy model").

Everything is computed from physical parameters in ``config["energy"]`` and measured pulse
counts in the training results; nothing here is a typed-in result.

* :func:`write_energy` — one programming pulse: ½CV² of the PZT electrodes + I²R·t in the
  heavy metal.
* :func:`programming_energy` — programming energy per inference from measured pulse counts
  (in-situ training; ex-situ measured and worst case).
* :func:`system_energy` — per-inference breakdown of the DW crossbar system against a 32-bit
  SRAM CMOS implementation of the same network, from a cited per-operation energy table.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict, dataclass
from pathlib import Path

from dwsynapse.constants import EPSILON_0
from dwsynapse.io import atomic_path, write_text
from dwsynapse.layout import ENERGY_OUTPUTS, all_alphas, device_stats_path, results_path, run_paths
from dwsynapse.levels import level_probability_table
from dwsynapse.nn.network import N_CLASSES, N_INPUT
from dwsynapse.tabular import markdown_table, si_value, write_csv

log = logging.getLogger(__name__)


class EnergyError(ValueError):
    """An energy parameter or an input result is missing or unusable."""


@dataclass(frozen=True)
class WriteEnergy:
    """Energy of one programming pulse and its parts (SI units)."""

    capacitance: float  # F, one PZT electrode
    voltage: float  # V across the PZT
    capacitive: float  # J, ½CV² summed over all electrodes
    resistance: float  # ohm, heavy-metal strip
    current: float  # A through the heavy metal
    joule: float  # J, I²R·t
    total: float  # J


def _get(cfg: dict, key: str, where: str = "energy"):
    if key not in cfg:
        raise EnergyError(f"config key '{where}.{key}' is missing")
    return cfg[key]


def write_energy(energy_cfg: dict, drive_cfg: dict) -> WriteEnergy:
    """Energy per device write [J] = n·½·C·V² + I²·R·t.

    C = ε0·εr·(L·b)/d for one top electrode of length L and width b on PZT of thickness d,
    V = E·d, R = ρ·L_hm/(w_hm·t_hm), I = J·w_hm·t_hm, t = SOT pulse duration.
    ``energy_cfg`` is ``config["energy"]``, ``drive_cfg`` is ``config["device"]["drive"]``
    (current density [A/m²], pulse duration [s]).
    """
    eps_r = float(_get(energy_cfg, "pzt_relative_permittivity"))
    d = float(_get(energy_cfg, "pzt_thickness"))
    area = float(_get(energy_cfg, "electrode_length")) * float(_get(energy_cfg, "electrode_width"))
    n_el = int(_get(energy_cfg, "n_electrodes"))
    field = float(_get(energy_cfg, "electric_field"))
    rho = float(_get(energy_cfg, "hm_resistivity"))
    hm_l, hm_w, hm_t = (float(_get(energy_cfg, k)) for k in ("hm_length", "hm_width", "hm_thickness"))
    j = float(_get(drive_cfg, "current_density", "device.drive"))
    t_pulse = float(_get(drive_cfg, "pulse_duration", "device.drive"))
    for name, value in (("pzt_thickness", d), ("hm_width", hm_w), ("hm_thickness", hm_t)):
        if value <= 0:
            raise EnergyError(f"config key 'energy.{name}' must be > 0, got {value}")
    capacitance = EPSILON_0 * eps_r * area / d
    voltage = field * d
    capacitive = n_el * 0.5 * capacitance * voltage**2
    resistance = rho * hm_l / (hm_w * hm_t)
    current = abs(j) * hm_w * hm_t
    joule = current**2 * resistance * t_pulse
    return WriteEnergy(capacitance, voltage, capacitive, resistance, current, joule, capacitive + joule)


def network_counts(n_inputs: int, hidden: list[int], n_outputs: int = N_CLASSES) -> dict:
    """Weights and neurons of the fully connected network ``n_inputs``-``hidden``-``n_outputs``."""
    sizes = [int(n_inputs), *[int(h) for h in hidden], int(n_outputs)]
    if any(s < 1 for s in sizes):
        raise EnergyError(f"layer sizes must be positive, got {sizes}")
    n_weights = sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
    return {"layers": sizes, "n_weights": n_weights, "n_neurons": sum(sizes[1:])}


def programming_energy(pulses: float, e_write: float, test_images: int) -> float:
    """Programming energy per inference [J] = pulses × E_write / test images (paper's convention)."""
    if test_images < 1:
        raise EnergyError(f"test_images must be >= 1, got {test_images}")
    if pulses < 0 or not math.isfinite(pulses):
        raise EnergyError(f"pulse count must be finite and >= 0, got {pulses}")
    return float(pulses) * e_write / test_images


def _op(per_op: dict, name: str, where: str) -> float:
    if name not in per_op or name == "citation":
        ops = sorted(k for k in per_op if k != "citation")
        raise EnergyError(f"energy.{where}: '{name}' is not in energy.per_op (have {ops})")
    return float(per_op[name])


def device_read_energy(dw_cfg: dict) -> float:
    """Energy of one crossbar read of one device [J] = V_read² · G_mid · t_read.

    G_mid = (G_max + G_min)/2 is Eq. 1 at <mz> = 0, G_max = 1/R_parallel, G_min = 1/R_antiparallel.
    """
    g_mid = 0.5 * (1.0 / float(dw_cfg["resistance_parallel"]) + 1.0 / float(dw_cfg["resistance_antiparallel"]))
    return float(dw_cfg["read_voltage"]) ** 2 * g_mid * float(dw_cfg["read_time"])


READ, PERIPHERAL, ACCUMULATION, WRITES = ("crossbar / SRAM weight read", "peripheral ops (ADC, activation)",
                                         "digital accumulation (multiply + add)", "device writes (programming)")
SYSTEM_CATEGORIES = (READ, PERIPHERAL, ACCUMULATION, WRITES)  # the stacks of Fig. S5, bottom to top


def system_energy(energy_cfg: dict, counts: dict, programming_per_inference: float | None) -> dict:
    """Per-inference energy [J] of the DW crossbar system and of a 32-bit SRAM CMOS network.

    One inference is the forward pass of one test image. DW: every weight is one analog device
    read, every neuron one ADC conversion plus a digital activation; the in-situ programming
    energy per inference (measured pulses, may be ``None`` when no run measured it) is added.
    CMOS: every weight is one 32-bit SRAM read (half a 64-bit access), one multiply and one add;
    every neuron one activation. Returns ``{"dw": [...rows], "cmos": [...rows], totals, ratio,
    "sram_sensitivity": [...], "citation": str}`` with rows ``{"system", "category", "component", "count",
    "energy_per_op_J", "energy_J"}``; ``category`` is one of :data:`SYSTEM_CATEGORIES` (Fig. S5).
    """
    per_op = _get(energy_cfg, "per_op")
    dw = _get(energy_cfg, "dw_system")
    cm = _get(energy_cfg, "cmos")
    n_w, n_n = counts["n_weights"], counts["n_neurons"]
    e_read = device_read_energy(dw)
    dw_rows = [
        (READ, "crossbar device reads", n_w, e_read),
        (PERIPHERAL, "neuron ADC conversions", n_n, float(dw["adc_energy"])),
        (PERIPHERAL, f"neuron activation ({dw['activation_op']})", n_n,
         _op(per_op, dw["activation_op"], "dw_system.activation_op")),
    ]
    if programming_per_inference is not None:
        dw_rows.append((WRITES, "device programming (in-situ, amortised)", 1, float(programming_per_inference)))

    def cmos_rows(read_op: str):
        return [
            (READ, f"32-bit weight read ({read_op} / 2)", n_w, _op(per_op, read_op, "cmos.weight_read_op") / 2),
            (ACCUMULATION, f"multiply ({cm['mult_op']})", n_w, _op(per_op, cm["mult_op"], "cmos.mult_op")),
            (ACCUMULATION, f"accumulate ({cm['add_op']})", n_w, _op(per_op, cm["add_op"], "cmos.add_op")),
            (PERIPHERAL, f"neuron activation ({cm['activation_op']})", n_n,
             _op(per_op, cm["activation_op"], "cmos.activation_op")),
        ]

    def rows(system, items):
        return [
            {"system": system, "category": cat, "component": c, "count": int(n), "energy_per_op_J": e, "energy_J": n * e}
            for cat, c, n, e in items
        ]

    dw_list = rows("DW crossbar", dw_rows)
    cmos_list = rows("CMOS 32-bit SRAM", cmos_rows(cm["weight_read_op"]))
    dw_total = sum(r["energy_J"] for r in dw_list)
    cmos_total = sum(r["energy_J"] for r in cmos_list)
    sensitivity = []
    for op in sorted(k for k in per_op if k.startswith("sram_")):
        total = sum(r["energy_J"] for r in rows("CMOS", cmos_rows(op)))
        sensitivity.append({"weight_read_op": op, "cmos_total_J": total, "ratio": total / dw_total})
    return {
        "dw": dw_list,
        "cmos": cmos_list,
        "dw_total_J": dw_total,
        "cmos_total_J": cmos_total,
        "ratio": cmos_total / dw_total,
        "sram_sensitivity": sensitivity,
        "citation": str(per_op["citation"]),
        "device_read_energy_J": e_read,
    }


# ---------------------------------------------------------------- tables from results


def _load_json(path: Path) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise EnergyError(f"{path}: metrics file not found") from None
    except json.JSONDecodeError as exc:
        raise EnergyError(f"{path}: not valid JSON ({exc})") from None


def _metric(m: dict, key: str, path) -> object:
    if key not in m:
        raise EnergyError(f"{path}: metrics has no '{key}'")
    return m[key]


def energy_tables(config: dict, insitu_metrics: dict, exsitu_metrics: dict, level_probability: list[dict] | None) -> dict:
    """All energy tables as lists of row dicts (values in SI units).

    ``insitu_metrics`` maps ``(states, alpha)`` to a metrics.json path of an in-situ run,
    ``exsitu_metrics`` maps ``(method, states, alpha)`` to an ex-situ metrics.json path,
    ``level_probability`` are the rows of :func:`dwsynapse.levels.level_probability_table` (used
    for the ex-situ worst case = ⌈1/min p⌉ pulses per device), or ``None``.
    """
    ecfg = config["energy"]
    we = write_energy(ecfg, config["device"]["drive"])
    test_images = int(ecfg["test_images"])
    counts = network_counts(N_INPUT, config["train"]["hidden"], N_CLASSES)
    write_rows = [
        {"quantity": "PZT electrode capacitance", "value": we.capacitance, "unit": "F", "formula": "eps0 eps_r L b / d"},
        {"quantity": "PZT voltage", "value": we.voltage, "unit": "V", "formula": "E d"},
        {"quantity": "capacitive energy", "value": we.capacitive, "unit": "J", "formula": "n_el 1/2 C V^2"},
        {"quantity": "heavy-metal resistance", "value": we.resistance, "unit": "ohm", "formula": "rho L/(w t)"},
        {"quantity": "SOT current", "value": we.current, "unit": "A", "formula": "J w t"},
        {"quantity": "Joule energy", "value": we.joule, "unit": "J", "formula": "I^2 R t_pulse"},
        {"quantity": "energy per write", "value": we.total, "unit": "J", "formula": "1/2 C V^2 + I^2 R t"},
    ]
    prog_rows = []
    prun = ecfg["dw_system"]["programming_run"]
    prog_inf = None  # programming energy per inference of the run named by dw_system.programming_run

    def programming_row(scenario: str, pulses: float, metrics: dict, path) -> dict:
        """One row of the programming table: ``pulses`` device writes of the run whose metrics are ``metrics``."""
        return {"scenario": scenario, "pulses": pulses, "n_train": int(_metric(metrics, "n_train", path)),
                "epochs": len(_metric(metrics, "epochs", path)), "energy_total_J": pulses * we.total,
                "energy_per_inference_J": programming_energy(pulses, we.total, test_images)}

    for (states, alpha), path in sorted(insitu_metrics.items()):
        m = _load_json(path)
        pulses = int(_metric(m, "total_pulses", path))
        if prun is not None and int(prun["states"]) == states and abs(float(prun["alpha"]) - float(alpha)) < 1e-9:
            prog_inf = programming_energy(pulses, we.total, test_images)
        prog_rows.append(programming_row(f"in-situ {states}-state alpha={alpha:.2f}", pulses, m, path))
    for (method, states, alpha), path in sorted(exsitu_metrics.items()):
        m = _load_json(path)
        pa = _metric(m, "program_attempts", path)
        per_trial = [float(x) for x in pa.get("per_trial_total", [])]
        if not per_trial:
            continue
        mean_pulses = sum(per_trial) / len(per_trial)
        prog_rows.append(programming_row(f"ex-situ {method} {states}-state alpha={alpha:.2f} (measured mean)",
                                         mean_pulses, m, path))
    if level_probability:
        for alpha in sorted({r["alpha"] for r in level_probability}):
            ps = [r["probability"] for r in level_probability if r["alpha"] == alpha]
            p_min = min(ps)
            if p_min <= 0:
                log.warning("a level is never reached within alpha=%g: no finite worst case", alpha)
                continue
            attempts = math.ceil(1.0 / p_min)
            pulses = attempts * counts["n_weights"]
            prog_rows.append({
                "scenario": f"ex-situ worst case alpha={alpha:.2f} ({attempts} pulses per device = ceil(1/{p_min:.3f}))",
                "pulses": pulses,
                "n_train": None,
                "epochs": None,
                "energy_total_J": pulses * we.total,
                "energy_per_inference_J": programming_energy(pulses, we.total, test_images),
            })
    system = system_energy(ecfg, counts, prog_inf)
    return {"write": write_rows, "programming": prog_rows, "system": system, "counts": counts, "write_energy": asdict(we)}


def write_energy_outputs(tables: dict, out: dict) -> None:
    """Write the energy tables: ``out`` maps ``write_csv, write_md, programming_csv,
    programming_md, system_csv, system_md, json`` to paths."""
    write_csv(tables["write"], out["write_csv"])
    md = ["# Energy per device write", "", markdown_table(
        [dict(r, value=si_value(r["value"], r["unit"]) if r["unit"] in ("J", "F", "A", "V") else f"{r['value']:.4g} {r['unit']}")
         for r in tables["write"]], ["quantity", "value", "formula"])]
    write_text("\n".join(md), out["write_md"])
    prog = tables["programming"] or [{"scenario": "no in-situ or ex-situ run configured", "pulses": 0, "n_train": None,
                                      "epochs": None, "energy_total_J": 0.0, "energy_per_inference_J": 0.0}]
    write_csv(prog, out["programming_csv"])
    pmd = [dict(r, energy_total=si_value(r["energy_total_J"], "J"), energy_per_inference=si_value(r["energy_per_inference_J"], "J"))
           for r in prog]
    write_text("# Programming energy (pulses x energy per write / test images)\n\n"
               + markdown_table(pmd, ["scenario", "pulses", "n_train", "epochs", "energy_total", "energy_per_inference"]),
               out["programming_md"])
    sys_ = tables["system"]
    rows = sys_["dw"] + sys_["cmos"]
    write_csv(rows, out["system_csv"])
    smd = [dict(r, energy_per_op=si_value(r["energy_per_op_J"], "J"), energy=si_value(r["energy_J"], "J")) for r in rows]
    sens = [dict(r, cmos_total=si_value(r["cmos_total_J"], "J"), ratio=f"{r['ratio']:.4g}") for r in sys_["sram_sensitivity"]]
    text = (
        "# System energy per inference (forward pass of one test image)\n\n"
        f"Per-operation energies: {sys_['citation']}. Device read energy {si_value(sys_['device_read_energy_J'], 'J')}.\n\n"
        + markdown_table(smd, ["system", "component", "count", "energy_per_op", "energy"])
        + f"\n**DW total: {si_value(sys_['dw_total_J'], 'J')}; CMOS total: {si_value(sys_['cmos_total_J'], 'J')}; "
        f"CMOS / DW = {sys_['ratio']:.4g}x**\n\n"
        + ("" if any(r["component"].startswith("device programming") for r in sys_["dw"]) else
           "Device programming is not included: the in-situ run named by energy.dw_system.programming_run "
           "is not in this config's grid.\n\n")
        + "Sensitivity to the SRAM entry used for a 32-bit weight read:\n\n"
        + markdown_table(sens, ["weight_read_op", "cmos_total", "ratio"])
    )
    write_text(text, out["system_md"])
    with atomic_path(out["json"]) as tmp:
        tmp.write_text(json.dumps(tables, indent=2, default=str) + "\n")


def run_energy(config: dict, stats_path: str | Path | None, out: dict) -> dict:
    """Compute every energy table for ``config`` from its training results (paths from
    :func:`dwsynapse.layout.run_paths`) and, when given, the device-statistics file (for
    the ex-situ worst case), and write them to ``out`` (keys of :data:`dwsynapse.layout.ENERGY_OUTPUTS`)."""
    rp = run_paths(config)
    insitu = {k: d / "metrics.json" for k, d in rp.insitu.items()}
    exsitu = {k: d / "metrics.json" for k, d in rp.exsitu.items()}
    levels = None
    if stats_path is not None:
        from dwsynapse.devicestats import read_device_stats

        alphas = all_alphas(config)
        if alphas:
            levels = level_probability_table(read_device_stats(stats_path), alphas)
    tables = energy_tables(config, insitu, exsitu, levels)
    write_energy_outputs(tables, out)
    we = tables["write_energy"]
    log.info("energy per write %.3g J (%.3g capacitive + %.3g Joule); DW system %.3g J/inference, CMOS/DW = %.3g",
             we["total"], we["capacitive"], we["joule"], tables["system"]["dw_total_J"], tables["system"]["ratio"])
    return tables


def register(sub) -> None:
    """``dwsynapse energy``: energy tables (CSV + Markdown) from a config and its results."""
    from dwsynapse.command import add_report_command

    add_report_command(sub, "energy", "energy per write, programming energy and system energy tables", _cli,
                       "<results_dir>/report/energy")


def _cli(args) -> int:
    from dwsynapse.command import start_command

    config = start_command(args)
    outdir = Path(args.outdir or results_path(config, "report", "energy"))
    stats = args.stats or device_stats_path(config)
    run_energy(config, stats, {k: outdir / v for k, v in ENERGY_OUTPUTS.items()})
    print(f"energy tables written to {outdir}")
    return 0
