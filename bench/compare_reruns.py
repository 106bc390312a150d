"""Two pooled samples of one Ku's final <m_z> side by side: the whole-sample KS test and the walls per notch.

A6's dt / 2 test compares 64 outcomes with 64; a shift of ~0.01 inside one notch needs a few hundred. This script
pools the stage's own outcomes (``stats:<device_stats.h5>``, its instances 0 ... n - 1) and ``converge`` reports
(``rerun:<report.json>`` or ``half_dt:<report.json>``, the report's part of that name, each covering instances
``first_index`` ... of the same seed sequence) into sample A
and sample B, refuses overlapping instances within a sample, and prints
``calibration_study.compare_by_notch``: the KS test of A against B, and per notch the fraction of walls resting
there and their mean <m_z> in each sample, the difference and its z, and, for the instances both samples hold
(paired by index when none failed), the mean in-notch difference of the same seeds (docs/calibration.md, A6).
It also prints how many weights of A, of B and of both land within +-0.15 of the Ku's level target, with exact 95 %
intervals (``calibration_study.in_window``; at 7.0e5 this is A2's P(w >= 0.85)); the two pooled ("both", when they
hold no instance in common) mean something only when A and B ran the same settings:

    python bench/compare_reruns.py --config config.yaml --ku 7.5e5 \\
        --a stats:results/device/device_stats.h5 --a rerun:dt_from_64.json \\
        --b rerun:docs/convergence/readout_tail_seed7.json --b rerun:half_from_64.json --json pooled.json
"""

from __future__ import annotations

import argparse
import json

import numpy as np


def pooled(sources: list[str], ku: float) -> tuple[np.ndarray, list[int]]:
    """<m_z> of ``ku`` [J/m^3] from ``stats:PATH``, ``rerun:PATH`` and ``half_dt:PATH`` sources, and the instance
    indices covered."""
    from dwsynapse.calibration_study import rerun_samples
    from dwsynapse.devicestats import read_device_stats

    values, covered = [], []
    reports = []
    for src in sources:
        kind, _, path = src.partition(":")
        if kind == "stats":
            g = read_device_stats(path).by_ku(ku)
            values.append(np.asarray(g.mz, float))
            covered += list(range(g.n_requested))
        elif kind in ("rerun", "half_dt"):
            reports.append((path, kind))
        else:
            raise SystemExit(f"compare_reruns: source {src!r} is not stats:<file.h5>, rerun:<report.json> or "
                             "half_dt:<report.json>")
    if reports:
        v, idx = rerun_samples(reports, ku, taken=covered)
        values.append(v)
        covered += idx
    return np.concatenate(values), sorted(covered)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="config.yaml", help="the stage's config (racetrack length and notches)")
    parser.add_argument("--ku", type=float, required=True, help="the Ku [J/m^3] compared")
    parser.add_argument("--a", action="append", required=True, metavar="SOURCE",
                        help="sample A: stats:<device_stats.h5>, rerun:<converge report.json> or "
                             "half_dt:<converge report.json> (repeatable)")
    parser.add_argument("--b", action="append", required=True, metavar="SOURCE", help="sample B, as --a")
    parser.add_argument("--json", default=None, help="also write the comparison to this file")
    args = parser.parse_args(argv)

    from dwsynapse.calibration_study import TARGET_OF_KU, compare_by_notch, in_window
    from dwsynapse.config import load_config
    from dwsynapse.geometry import notch_centres
    from dwsynapse.io import write_text

    geometry = load_config(args.config)["device"]["geometry"]
    a, idx_a = pooled(args.a, args.ku)
    b, idx_b = pooled(args.b, args.ku)
    # instances of both samples are paired by index when every instance of both came back (none failed)
    whole = a.size == len(idx_a) and b.size == len(idx_b)
    out = compare_by_notch(a, b, notch_centres(geometry), float(geometry["length"]),
                           index_a=idx_a if whole else None, index_b=idx_b if whole else None)
    targets = [t for k, t in TARGET_OF_KU.items() if abs(k - args.ku) <= 1e-3 * k]
    if targets:
        samples = [("a", a), ("b", b)] + ([("both", np.concatenate([a, b]))] if not set(idx_a) & set(idx_b) else [])
        out["in_window"] = {name: in_window(w, targets[0]) for name, w in samples}
    out.update(ku=args.ku, a_sources=args.a, b_sources=args.b, a_instances=[idx_a[0], idx_a[-1]],
               b_instances=[idx_b[0], idx_b[-1]])
    print(f"Ku {args.ku:g} J/m^3: A n = {out['a']['n']} (instances {idx_a[0]}...{idx_a[-1]}), mean {out['a']['mean']:+.4f} "
          f"+- {out['a']['se']:.4f}; B n = {out['b']['n']} ({idx_b[0]}...{idx_b[-1]}), mean {out['b']['mean']:+.4f} "
          f"+- {out['b']['se']:.4f}; KS D {out['ks_d']:.3f}, p {out['ks_p']:.3g}\n")
    print("| notch [nm] | fraction A | fraction B | mean <mz> A | mean <mz> B | B - A | z | pairs | paired B - A |")
    print("|---|---|---|---|---|---|---|---|---|")
    for row in out["notches"]:
        means = (f"{row['mean_a']:+.4f} +- {row['se_a']:.4f} | {row['mean_b']:+.4f} +- {row['se_b']:.4f} | "
                 f"{row['difference']:+.4f} | {row['z']:+.1f}") if "difference" in row else "| | |"
        pairs = (f"{row['paired_n']} | " + (f"{row['paired_difference']:+.4f} +- {row['paired_se']:.4f}"
                                           if "paired_difference" in row else "")) if "paired_n" in row else "| "
        print(f"| {row['notch_nm']:.0f} | {row['fraction_a']:.3f} | {row['fraction_b']:.3f} | {means} | {pairs} |")
    for name, row in out.get("in_window", {}).items():
        print(f"\n{name}: {row['hits']} of {row['n']} within +-{row['window']:g} of {row['target']:+.3f}: P = {row['p']:.4f} "
              f"({row['level']:.0%} interval {row['p_low']:.4f} ... {row['p_high']:.4f})", end="")
    print()
    if args.json:
        write_text(json.dumps(out, indent=1) + "\n", args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
