"""Calibrate the racetrack device against the paper's device facts (docs/calibration.md).

Modes (logic in :mod:`dwsynapse.calibration` and :mod:`dwsynapse.calibration_study`):

    # quick parameter scan: all Ku in one batch, fixed relaxation, a few instances each
    python bench/calibrate_device.py explore --config config.yaml --n-per-ku 2 --temperature 300 \
        --set material.Dind=1.8e-3 --set geometry.notch_depth=12e-9

    # the calibration run: the configured engine exactly as the device stage runs it
    python bench/calibrate_device.py calibrate --config config.yaml --out results/calibration

    # the calibration study (optuna TPE over cited ranges, T = 0 screen then 300 K; resumable):
    python bench/calibrate_device.py study --config config.yaml --trials 40 --csv docs/calibration_trials.csv
    # ... within a narrower box (each bound inside the knob's cited range; KNOB=VALUE fixes a knob)
    python bench/calibrate_device.py study --box Ms=1.0e6:1.04e6 --box notch_depth=12e-9 --csv trials.csv

    # acceptance A1-A5 of a finished device stage, A7 (admissible, wall held 5 ns at T = 0 and J = 0)
    python bench/calibrate_device.py check --config config.yaml --stats results/device/device_stats.h5

    # T = 0 start-notch depinning threshold per Ku (1 ns pulse), and its transfer to another mesh (issue 14:
    # config/paper.yaml's 2 nm within 15 % of config.yaml's 4 nm)
    python bench/calibrate_device.py depinning --config config.yaml --compare config/paper.yaml --json t.json

    # two device-statistics files side by side, per Ku: means, spreads, in-window P and a two-sample KS test
    python bench/calibrate_device.py compare --stats results/device/device_stats.h5 --other results/paper/device/device_stats.h5

    # how far the study's loss scatters with 4, 8, 16 instances per Ku: subsamples of a finished stage
    python bench/calibrate_device.py resolution --stats results/device/device_stats.h5 --per-ku 4 8 16

    # A6 (converged): the stage's final states relaxed 3 ns more, and the stage's first seeds rerun at dt/2
    # (--rerun-per-ku N --rerun-set torch.demag_refresh_steps=1: also rerun them with another setting, e.g.
    # the full demag in every stage, or --rerun-set solver.integrator=heun --rerun-set solver.dt=6.25e-14)
    python bench/calibrate_device.py converge --config config.yaml --extension-per-ku 16 --half-dt-per-ku 16

``MODE --help`` lists the options of one mode. ``calibrate`` writes ``calibration.json`` (every instance)
and ``calibration.md`` (the table) into ``--out``; docs/calibration.md quotes that table. ``study`` appends
every trial to ``--csv`` as it ends and resumes from it (:mod:`dwsynapse.calibration_study`).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path


def _parse_rerun_sets(items: list[str]) -> dict:
    """``--rerun-set solver.dt=3e-14`` ... as the nested overrides of the device section (values read as
    YAML scalars: numbers, booleans or words)."""
    import yaml

    from dwsynapse.config import parse_section_overrides

    out = parse_section_overrides(items, "--rerun-set", sections=None, value=yaml.safe_load)
    if not out:
        raise SystemExit("converge: --rerun-per-ku needs at least one --rerun-set")
    return out


def _threshold_table(report: dict) -> str:
    """Markdown table of a ``depinning`` report: per Ku the threshold and bracket [1e10 A/m^2] of each mesh."""

    def cell(t: dict) -> str:
        if t["threshold"] is None:
            return "held at the bracket's top" if t["held_at_low"] and not t["left_at_high"] else "left at its bottom"
        lo, hi = t["bracket"]
        return f"{t['threshold'] / 1e10:.2f} ({lo / 1e10:.2f} .. {hi / 1e10:.2f})" + ("" if t["monotonic"] else " non-monotonic")

    meshes = [report["thresholds"]] + ([report["compare_thresholds"]] if "compare_thresholds" in report else [])
    head = ["Ku [J/m^3]"] + [f"{m['cell_size'] * 1e9:g} nm threshold (bracket) [1e10 A/m^2]" for m in meshes]
    transfer = {r["ku"]: r for r in report.get("transfer", {}).get("rows", [])}
    if transfer:
        head += ["difference", "worst case"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for k in meshes[0]["ku"]:
        row = [f"{k:.4g}"] + [cell(m["per_ku"][k]) for m in meshes]
        if transfer:
            r = transfer[k]
            row += ["-" if r["relative"] is None else f"{r['relative']:+.1%}",
                    "-" if r["worst_case"] is None else f"{r['worst_case']:.1%}"]
        lines.append("| " + " | ".join(row) + " |")
    cost = ", ".join(f"{m['cell_size'] * 1e9:g} nm: {m['instance_steps']} instance-steps in {m['wall_time_s']:.0f} s"
                     for m in meshes)
    verdict = ""
    if transfer:
        verdict = (f"\ntransfer within {report['transfer']['tolerance']:.0%} at every Ku: "
                   f"{'yes' if report['transfer']['pass'] else 'no'}")
    return "\n".join(lines) + f"\n{cost}{verdict}"


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The command line: one sub-command per mode, each with only its own options (``MODE --help``), so an
    option of another mode is refused instead of silently ignored. Returns the parser and the mode parsers."""
    from dwsynapse.calibration_study import KNOBS  # numpy only: --help stays fast

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", default="config.yaml", help="workflow config whose device section is used")
    common.add_argument("--set", action="append", default=[], metavar="material|geometry.KEY=VALUE",
                        help="override a material or geometry value, e.g. material.Dind=1.5e-3 or geometry.seed=8 "
                             "(repeatable)")
    common.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "1")),
                        help="torch CPU threads (default: $OMP_NUM_THREADS or 1)")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     epilog="MODE --help lists the options of one mode.")
    modes = parser.add_subparsers(dest="mode", required=True, metavar="MODE")
    parsers = {}

    def mode(name: str, summary: str) -> argparse.ArgumentParser:
        parsers[name] = modes.add_parser(name, parents=[common], help=summary, description=summary)
        return parsers[name]

    def stats_option(p: argparse.ArgumentParser) -> None:
        p.add_argument("--stats", default=None, help="device_stats.h5 of a finished stage (default: the config's)")

    def json_option(p: argparse.ArgumentParser) -> None:
        p.add_argument("--json", default=None, help="also write the report to this file")

    p = mode("explore", "quick parameter scan: every Ku in one batch, a fixed relaxation, a few instances each")
    p.add_argument("--n-per-ku", type=int, default=1, help="instances per Ku (default 1)")
    p.add_argument("--temperature", type=float, default=None, help="K (default: the config's)")
    p.add_argument("--relax-time", type=float, default=0.5e-9, help="s after the pulse (default 0.5e-9)")
    p.add_argument("--demag", default=None, help="newell | thin_film (default: the config's)")
    p.add_argument("--seed", type=int, default=None, help="thermal seed base (default: device.thermal_seed)")

    p = mode("calibrate", "the configured engine exactly as the device stage runs it; writes calibration.json "
                          "and calibration.md")
    p.add_argument("--instances-per-ku", type=int, default=None, help="override the config's instances_per_ku")
    p.add_argument("--out", default="results/calibration", help="output directory (default results/calibration)")

    p = mode("study", "the calibration study: seeded optuna TPE over the cited ranges, a T = 0 screen then 300 K; "
                      "every trial appended to --csv, resumed from it")
    p.add_argument("--csv", default="docs/calibration_trials.csv", help="the trial log (resumed)")
    p.add_argument("--trials", type=int, default=40, help="total number of trials (default 40)")
    p.add_argument("--study-seed", type=int, default=0, help="seed of the TPE sampler (default 0)")
    p.add_argument("--study-n-per-ku", type=int, default=8, help="instances per Ku at 300 K (default 8)")
    p.add_argument("--start", action="append", default=[], metavar="JSON",
                   help="a JSON dict of knob values to try first (repeatable)")
    p.add_argument("--geometry-seeds", type=int, nargs="+", default=None, metavar="SEED",
                   help="racetrack roughness seeds of every 300 K stage (loss = their mean; "
                        "default: the config's device.geometry.seed)")
    p.add_argument("--box", action="append", default=[], metavar="KNOB=LOW:HIGH",
                   help="search this knob only within [LOW, HIGH] (inside its cited range; KNOB=VALUE fixes it; "
                        f"repeatable; knobs: {', '.join(k.name for k in KNOBS)})")

    p = mode("check", "acceptance A1-A5 of a finished device stage, its in-window counts per Ku, and A7 "
                      "(admissible values; the wall held 5 ns at T = 0 and J = 0)")
    stats_option(p)
    p.add_argument("--no-hold", action="store_true", help="skip the 5 ns T = 0 hold run")

    p = mode("converge", "A6 (converged): the stage's final states relaxed longer, and its seeds rerun at dt / 2 "
                         "or with other settings, each compared by a two-sample KS test per Ku")
    stats_option(p)
    json_option(p)
    p.add_argument("--out", default="results/calibration", help="work directory of the reruns")
    p.add_argument("--extension-per-ku", type=int, default=16,
                   help="final states per Ku relaxed --extra-time more (default 16; 0: skip)")
    p.add_argument("--extra-time", type=float, default=3e-9, help="s of extra relaxation (default 3e-9)")
    p.add_argument("--half-dt-per-ku", type=int, default=16,
                   help="instances per Ku rerun at dt/2 for the KS test (default 16; 0: skip)")
    p.add_argument("--rerun-per-ku", type=int, default=0,
                   help="instances per Ku rerun with the --rerun-set values for a KS test (default 0: skip)")
    p.add_argument("--rerun-set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="a device setting of that rerun, e.g. torch.demag_refresh_steps=1, "
                        "solver.integrator=heun, solver.dt=6.25e-14 (repeatable)")
    p.add_argument("--rerun-first", type=int, default=0, metavar="I",
                   help="index of the first instance rerun (default 0; past the stage's own instances_per_ku the "
                        "same seed sequence goes on, for a larger sample)")
    p.add_argument("--rerun-ku", type=float, action="append", default=None, metavar="KU",
                   help="rerun only this Ku [J/m^3] (repeatable; default: every Ku of the stage)")

    p = mode("depinning", "T = 0 start-notch depinning threshold per Ku (1 ns pulse), and its transfer to "
                          "another config's mesh")
    json_option(p)
    p.add_argument("--compare", default=None, metavar="CONFIG",
                   help="also on this config's device (e.g. config/paper.yaml, 2 nm) and compare")
    p.add_argument("--j-range", type=float, nargs=2, default=(1.5e11, 8e11), metavar=("LOW", "HIGH"),
                   help="A/m^2 bracket searched (default 1.5e11 8e11)")
    p.add_argument("--rounds", type=int, default=3, help="rounds of the bracket search (default 3)")
    p.add_argument("--compare-around", type=float, default=None, metavar="MARGIN",
                   help="search the other mesh only within threshold x (1 +- MARGIN) of this mesh's per Ku (fewer "
                        "rounds for the same precision; a threshold outside shows as not bracketed)")
    p.add_argument("--compare-rounds", type=int, default=None, help="rounds on the other mesh (default --rounds)")

    p = mode("window", "the drive window of several materials: T = 0 start-notch thresholds of every Ku against the "
                       "wall energy, so whether the paper's current can hold 8.0e5 and release 7.75e5; every point "
                       "appended to --csv, resumed from it")
    p.add_argument("--csv", default="docs/threshold_window.csv", help="the point log (resumed)")
    p.add_argument("--point", nargs=2, action="append", default=[], metavar=("NAME", "JSON"),
                   help="a named material: a JSON dict of knob values, the others from the config "
                        f"(repeatable; knobs: {', '.join(k.name for k in KNOBS)})")
    p.add_argument("--j-range", type=float, nargs=2, default=(1e11, 1.6e12), metavar=("LOW", "HIGH"),
                   help="A/m^2 bracket searched (default 1e11 1.6e12)")
    p.add_argument("--rounds", type=int, default=4, help="rounds of the bracket search (default 4: within 1.1 %%)")

    p = mode("compare", "two device-statistics files side by side, per Ku: means, spreads, in-window P, DW std "
                        "and a two-sample KS test")
    stats_option(p)
    p.add_argument("--other", required=True, help="the second device_stats.h5")

    p = mode("resolution", "how far the study's loss scatters with N instances per Ku: seeded subsamples of a "
                           "finished stage")
    stats_option(p)
    json_option(p)
    p.add_argument("--per-ku", type=int, nargs="+", default=[4, 8, 16], metavar="N",
                   help="instances per Ku of the subsamples (default 4 8 16)")
    p.add_argument("--draws", type=int, default=2000, help="subsamples per N (default 2000)")
    p.add_argument("--resample-seed", type=int, default=0, help="seed of the subsampling (default 0)")
    return parser, parsers


def main(argv: list[str] | None = None) -> int:
    parser, parsers = build_parser()
    args = parser.parse_args(argv)

    import torch

    from dwsynapse.calibration import calibrate, explore, markdown_table, summarize
    from dwsynapse.config import load_config, parse_section_overrides
    from dwsynapse.io import write_json, write_text
    from dwsynapse.logutil import setup_logging

    setup_logging()
    torch.set_num_threads(max(1, args.threads))
    config = load_config(args.config)
    dev = config["device"]
    for section, values in parse_section_overrides(args.set).items():
        dev[section].update(values)
    if args.mode == "check":
        import json

        from dwsynapse.calibration_study import acceptance_from_stats, admissible, hold_check
        from dwsynapse.devicestats import default_stats_path

        report = {"acceptance": acceptance_from_stats(args.stats or default_stats_path(config)),
                  "admissible": admissible(dev)}
        if not args.no_hold:
            report["hold"] = hold_check(dev)
        print(json.dumps(report, indent=1, default=float))
        return 0
    if args.mode == "converge":
        import json

        from dwsynapse.calibration_study import extension_check, rerun_check
        from dwsynapse.devicestats import default_stats_path
        from dwsynapse.layout import chunk_dir
        from dwsynapse.settings import device_settings

        stats = args.stats or default_stats_path(config)
        report = {"stats": str(stats), "set": args.set}
        if args.extension_per_ku > 0:
            chunks = sorted(chunk_dir(config).glob("*/chunk_*.h5"))
            if not chunks:
                raise SystemExit(f"converge: no chunk files under {chunk_dir(config)} (run the device stage first)")
            report["extension"] = extension_check(dev, chunks, args.extension_per_ku, args.extra_time)
        if args.half_dt_per_ku > 0:
            # the readout tail's step halves with the main step (readout_step: readout_dt, or dt when null)
            solver = device_settings(config).solver
            half = {"solver": {"dt": 0.5 * solver.dt, "readout_dt": 0.5 * solver.readout_step}}
            report["half_dt"] = rerun_check(config, stats, args.half_dt_per_ku, Path(args.out) / "half_dt", half)
        if args.rerun_per_ku > 0:
            other = _parse_rerun_sets(args.rerun_set)
            report["rerun"] = rerun_check(config, stats, args.rerun_per_ku, Path(args.out) / "rerun", other,
                                          kus=args.rerun_ku, first=args.rerun_first)
        text = json.dumps(report, indent=1, default=float)
        print(text)
        if args.json:
            write_text(text + "\n", args.json)
        return 0
    if args.mode == "resolution":
        import json

        from dwsynapse.calibration_study import loss_resolution
        from dwsynapse.devicestats import default_stats_path
        from dwsynapse.tabular import markdown_table

        if args.draws < 1:
            parsers["resolution"].error("--draws must be >= 1")
        try:
            report = loss_resolution(args.stats or default_stats_path(config), args.per_ku, args.draws,
                                     args.resample_seed)
        except ValueError as exc:
            parsers["resolution"].error(str(exc))
        print(f"{report['stats']}: loss {report['loss_full']:.2f} with all {report['n_full']} instances per Ku; "
              f"{report['draws']} subsamples per row (seed {report['seed']})\n")
        table = [{"per Ku": r["n_per_ku"], "mean": f"{r['mean']:.2f}", "median": f"{r['median']:.2f}",
                  "10-90 %": f"{r['p10']:.2f} - {r['p90']:.2f}", "std": f"{r['std']:.2f}"} for r in report["rows"]]
        print(markdown_table(table, list(table[0])))
        if args.json:
            write_text(json.dumps(report, indent=1) + "\n", args.json)
        return 0
    if args.mode == "compare":
        from dwsynapse.calibration_study import compare_stats
        from dwsynapse.devicestats import default_stats_path
        from dwsynapse.tabular import markdown_table

        a = args.stats or default_stats_path(config)
        rows = compare_stats(a, args.other)
        print(f"A = {a}\nB = {args.other}\n")
        table = [{"Ku [J/m^3]": f"{r['ku']:.4g}", "target": "" if r["target"] is None else f"{r['target']:+.3f}",
                  "n A / B": f"{r['n_a']} / {r['n_b']}", "mean A / B": f"{r['mean_a']:+.3f} / {r['mean_b']:+.3f}",
                  "std A / B": f"{r['std_a']:.3f} / {r['std_b']:.3f}",
                  "in-window P A / B": ("" if "in_window_a" not in r else f"{r['in_window_a']:.2f} / {r['in_window_b']:.2f}"),
                  "DW std [nm] A / B": f"{r['dw_std_nm_a']:.0f} / {r['dw_std_nm_b']:.0f}",
                  "KS D, p": f"{r['ks_d']:.2f}, {r['ks_p']:.2f}"} for r in rows]
        print(markdown_table(table, list(table[0])))
        return 0
    if args.mode == "depinning":
        import json

        from dwsynapse.calibration_study import depinning_thresholds, threshold_transfer

        def thresholds(device, j_low, j_high, rounds):
            return depinning_thresholds(device, j_low, j_high, rounds=rounds, compile=bool(device["torch"]["compile"]))

        # the overrides go into the report: a committed JSON then says which racetrack and material it measured
        report = {"config": args.config, "set": args.set, "thresholds": thresholds(dev, *args.j_range, args.rounds)}
        if args.compare:
            other = load_config(args.compare)["device"]
            j_low, j_high = args.j_range
            if args.compare_around is not None:
                ref = report["thresholds"]["per_ku"]
                if any(t["threshold"] is None for t in ref.values()):
                    raise SystemExit("depinning --compare-around: this mesh has a Ku without a threshold")
                j_low = {k: t["threshold"] / (1 + args.compare_around) for k, t in ref.items()}
                j_high = {k: t["threshold"] * (1 + args.compare_around) for k, t in ref.items()}
            report["compare_config"] = args.compare
            report["compare_thresholds"] = thresholds(other, j_low, j_high, args.compare_rounds or args.rounds)
            report["transfer"] = threshold_transfer(report["thresholds"], report["compare_thresholds"])
        print(_threshold_table(report))
        if args.json:
            write_text(json.dumps(report, indent=1, default=float) + "\n", args.json)
        return 0
    if args.mode == "window":
        import json

        from dwsynapse.calibration_study import run_window_scan, window_thresholds_text
        from dwsynapse.tabular import markdown_table

        j_low, j_high = args.j_range
        if not 0 < j_low < j_high or args.rounds < 1 or not args.point:
            parsers["window"].error("need 0 < LOW < HIGH, --rounds >= 1 and at least one --point")
        try:
            points = [(name, json.loads(text)) for name, text in args.point]
            rows = run_window_scan(dev, args.csv, points, j_low=j_low, j_high=j_high, rounds=args.rounds,
                                   compile=bool(dev["torch"]["compile"]))
        except (ValueError, json.JSONDecodeError) as exc:
            parsers["window"].error(str(exc))

        table = [{"point": r["point"], "thresholds 8.0 ... 7.0e5 [1e10 A/m^2]":
                  r.get("error") if r["status"] == "rejected" else window_thresholds_text(r, " / "),
                  "window": "" if r.get("window") in (None, "") else f"{float(r['window']):.3f}",
                  "sigma ratio": "" if r.get("sigma_ratio") in (None, "") else f"{float(r['sigma_ratio']):.3f}"}
                 for r in rows]
        print(markdown_table(table, list(table[0])))
        return 0
    if args.mode == "study":
        import json

        from dwsynapse.calibration_study import parse_search_box, run_study, search_box

        try:  # a bad box is refused before any trial runs
            box = parse_search_box(args.box)
            search_box(box)
        except ValueError as exc:
            parsers["study"].error(str(exc))
        rows = run_study(dev, args.csv, args.trials, seed=args.study_seed, n_per_ku=args.study_n_per_ku,
                         thermal_seed=int(dev["thermal_seed"]), enqueue=[json.loads(s) for s in args.start],
                         geometry_seeds=args.geometry_seeds, box=box)
        print(f"study: {len(rows)} rows in {args.csv}")
        return 0
    if args.mode == "explore":
        res = explore(dev["material"], dev["geometry"], dev["ku_values"], n_per_ku=args.n_per_ku,
                      temperature=dev["drive"]["temperature"] if args.temperature is None else args.temperature,
                      current_density=dev["drive"]["current_density"], pulse_duration=dev["drive"]["pulse_duration"],
                      relax_time=args.relax_time, dt=dev["solver"]["dt"],
                      initial_relax_time=float(dev["solver"].get("initial_relax_time", 0.0)),
                      demag=args.demag or dev["solver"].get("demag", "newell"),
                      seed=int(dev["thermal_seed"]) if args.seed is None else args.seed,
                      dtype=(dev.get("torch") or {}).get("dtype", "float32"),
                      compile=bool((dev.get("torch") or {}).get("compile", False)),
                      readout_time=float(dev["solver"]["readout_time"]), readout_dt=dev["solver"]["readout_dt"])
        rows = [summarize(k, res["mz"][res["ku"] == k], res["dw_x"][res["ku"] == k]) for k in dev["ku_values"]]
        print(markdown_table(rows))
        print(f"explore: {res['instance_steps']} instance-steps in {res['wall_time_s']:.1f} s")
        return 0
    out = Path(args.out)
    res = calibrate(config, out / "work", instances_per_ku=args.instances_per_ku, progress=True)
    write_json(res, out / "calibration.json")
    text = (f"engine {res['engine']}, demag {res['demag']}, dt {res['dt']:.3g} s, cell {res['cell_size'] * 1e9:g} nm, "
            f"{res['instances_per_ku']} instances per Ku (chunks of {res['chunk_size']}), "
            f"total {res['wall_time_s']:.0f} s\n\n" + markdown_table(res["rows"]))
    write_text(text, out / "calibration.md")
    print(text)
    logging.getLogger("calibrate").info("wrote %s", out / "calibration.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
