"""How much the integrator's step moves a 300 K level: the start-notch wall without current, time-averaged.

A6's dt / 2 test compares final states whose spread is set by the thermal fluctuations of <m_z>; a level that
stays in the start notch (8.0e5 J/m^3) has a spread of only ~0.007, so a step bias of a few 1e-3 shows in a
KS test. This bench measures that bias without the snapshot noise: every Ku of ``--ku`` starts from the
relaxed wall of the config, then runs ``--duration`` at the config's temperature with no current, and <m_z>
(one sample per 10 ps) is averaged per instance from ``--skip`` on. Each ``--case`` is
``integrator:dt[:demag_refresh_steps]`` (default refresh: the config's); all cases use the same instance
seeds. Prints per case and Ku the mean over instances of the time average, its standard error and the
difference to the first case (docs/calibration.md, A6):

    python bench/thermal_step_bias.py --config config.yaml --set geometry.seed=8 \\
        --case heun:6.25e-14 --case heun:3.125e-14 --case heun:1.5625e-14 \\
        --case heun:6.25e-14:1 --case heun:3.125e-14:8 --case rk4:1.25e-13 --case rk4:6.25e-14

With ``--pulse`` the config's pulse (drive.current_density for drive.pulse_duration, at temperature) comes
first, then ``--duration`` without current, and ``--skip`` counts from the pulse's end. That is the stage's
protocol for a wall the start notch holds (8.0e5 stops at pulse + rest window): the pulse's end sets every
instance's wall ringing in the notch with the same phase, so the instance mean of <m_z>(t) oscillates. The
bench then also reports the final snapshot (what the stage records) and a damped-cosine fit of the
instance-mean trace after the pulse (``calibration_study.fit_ringing``: level, frequency, decay time),
using only the instances whose wall ends within half a notch pitch of the start notch:

    python bench/thermal_step_bias.py --config config.yaml --set geometry.seed=8 --pulse --ku 8e5 \
        --instances 32 --duration 1e-9 --case heun:6.25e-14 --case heun:3.125e-14
"""

from __future__ import annotations

import argparse
import copy
import json
import tempfile
import time
from pathlib import Path

import numpy as np


def parse_case(text: str) -> tuple[str, float, int | None]:
    """``heun:6.25e-14`` or ``heun:6.25e-14:4`` -> (integrator, dt [s], refresh steps or None)."""
    parts = text.split(":")
    if len(parts) not in (2, 3):
        raise argparse.ArgumentTypeError(f"--case {text!r}: expected integrator:dt[:demag_refresh_steps]")
    return parts[0], float(parts[1]), int(parts[2]) if len(parts) == 3 else None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default="config.yaml")
    ap.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                    help="override a value of the config's device section, e.g. geometry.seed=8")
    ap.add_argument("--case", action="append", type=parse_case, required=True,
                    help="integrator:dt[:demag_refresh_steps]; the first is the reference")
    ap.add_argument("--ku", action="append", type=float, help="J/m^3 (default 8.0e5 and 7.0e5)")
    ap.add_argument("--instances", type=int, default=16)
    ap.add_argument("--duration", type=float, default=1.5e-9,
                    help="s at temperature without current, after the pulse with --pulse (default 1.5e-9)")
    ap.add_argument("--skip", type=float, default=0.3e-9,
                    help="s left out of the average, from the start or with --pulse from the pulse's end (default 0.3e-9)")
    ap.add_argument("--pulse", action="store_true",
                    help="run the config's pulse first; report the final snapshot and the ringing after the pulse")
    ap.add_argument("--seed", type=int, default=99, help="thermal seed of the instances (default 99)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", help="write the table and the instance-mean <m_z>(t) traces here")
    args = ap.parse_args(argv)
    if args.skip >= args.duration:
        ap.error("--skip must be shorter than --duration")

    import torch
    import yaml

    from dwsynapse.calibration_study import fit_ringing
    from dwsynapse.config import load_config, parse_section_overrides
    from dwsynapse.engines import instance_seed
    from dwsynapse.engines.torchfd.racetrack import run_instances
    from dwsynapse.geometry import build_racetrack
    from dwsynapse.logutil import setup_logging
    from dwsynapse.settings import device_settings

    setup_logging()
    torch.set_num_threads(args.threads)
    config = load_config(args.config)
    sections = tuple(k for k, v in config["device"].items() if isinstance(v, dict))
    for section, values in parse_section_overrides(args.set, sections=sections, value=yaml.safe_load).items():
        config["device"][section].update(values)
    if args.pulse:
        # the config's pulse, then exactly --duration of relaxation (a rest velocity of 0 never stops it early)
        config["device"]["solver"].update(relax_max_time=args.duration, rest_velocity=0.0, save_traces=True)
        start = float(config["device"]["drive"]["pulse_duration"])
    else:
        # no current, the whole run at temperature as "pulse"; the relaxation phase ends at once
        config["device"]["drive"]["current_density"] = 0.0
        config["device"]["drive"]["pulse_duration"] = args.duration
        config["device"]["solver"].update(relax_max_time=2e-11, save_traces=True)
        start = 0.0
    geometry = device_settings(config).geometry
    racetrack = build_racetrack(geometry)
    held_within = 0.5 * float(geometry["notch_pitch"])
    seeds = [instance_seed(args.seed, 0, i) for i in range(args.instances)]
    kus = args.ku or [8.0e5, 7.0e5]
    rows, traces, reference = [], {}, {}
    with tempfile.TemporaryDirectory() as work:
        for integrator, dt, refresh in args.case:
            cfg = copy.deepcopy(config)
            cfg["device"]["solver"].update(integrator=integrator, dt=dt)
            if refresh is not None:
                cfg["device"]["torch"]["demag_refresh_steps"] = refresh
            label = f"{integrator} {dt:.4g} s, K = {cfg['device']['torch']['demag_refresh_steps']}"
            for ku in kus:
                t0 = time.perf_counter()
                results = [r for r in run_instances(cfg, racetrack, ku, seeds, Path(work), progress=False) if r.ok]
                if args.pulse:
                    left = sum(r.dw_x - racetrack.start_x > held_within for r in results)
                    results = [r for r in results if r.dw_x - racetrack.start_x <= held_within]
                if not results:
                    raise SystemExit(f"{label}, Ku {ku:g}: no instance " + ("stayed in the start notch" if args.pulse
                                                                          else "succeeded"))
                averages = np.array([r.mz_t[r.t >= start + args.skip].mean() for r in results])
                mean = float(averages.mean())
                se = float(averages.std(ddof=1) / np.sqrt(averages.size)) if averages.size > 1 else float("nan")
                first = ku not in reference
                reference.setdefault(ku, (mean, se))
                ref_mean, ref_se = reference[ku]
                row = dict(case=label, ku=ku, n=int(averages.size), mean=mean, se=se, diff=mean - ref_mean,
                           diff_se=0.0 if first else float(np.hypot(se, ref_se)), wall_s=time.perf_counter() - t0)
                trace = np.mean([r.mz_t for r in results], axis=0)
                traces[f"{label} @ {ku:g}"] = trace.tolist()
                print(f"{label}, Ku {ku:g}: <m_z> {mean:+.5f} +- {se:.5f}, minus the first case "
                      f"{mean - ref_mean:+.5f} ({row['wall_s']:.0f} s)", flush=True)
                if args.pulse:
                    final = np.array([r.mz for r in results])
                    fit = fit_ringing(results[0].t, trace, start + 0.03e-9)
                    row.update(left_start_notch=int(left), snapshots=final.tolist(), snapshot=float(final.mean()),
                               snapshot_se=float(final.std(ddof=1) / np.sqrt(final.size)) if final.size > 1 else
                               float("nan"), ringing=fit)
                    print(f"    {left} left the start notch; final snapshot {row['snapshot']:+.5f} +- "
                          f"{row['snapshot_se']:.5f}; ringing after the pulse: {fit['frequency'] / 1e9:.3f} GHz, "
                          f"decay {fit['tau'] * 1e9:.2f} ns, amplitude {fit['amplitude']:.4f}, level {fit['level']:+.5f}, "
                          f"fit at the end {fit['value_at_end']:+.5f}", flush=True)
                rows.append(row)
    print("\n| case | Ku [J/m^3] | n | time-averaged <m_z> | minus the first case |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['case']} | {r['ku']:.4g} | {r['n']} | {r['mean']:+.4f} +- {r['se']:.4f} | "
              f"{r['diff']:+.4f} +- {r['diff_se']:.4f} |")
    if args.pulse:
        print("\n| case | Ku [J/m^3] | final snapshot <m_z> | ringing: frequency [GHz] | decay [ns] | amplitude | "
              "fitted level |\n|---|---|---|---|---|---|---|")
        for r in rows:
            g = r["ringing"]
            print(f"| {r['case']} | {r['ku']:.4g} | {r['snapshot']:+.4f} +- {r['snapshot_se']:.4f} | "
                  f"{g['frequency'] / 1e9:.3f} | {g['tau'] * 1e9:.2f} | {g['amplitude']:.4f} | {g['level']:+.4f} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "traces_10ps": traces}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
