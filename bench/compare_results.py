"""Are two workflow results directories the same? For a refactor that must change no result.

    python bench/compare_results.py results_before results_after

Compares, file by file under both directories: every dataset and attribute of every HDF5 file
(``device/device_stats.h5``, the chunk files, the initial states) exactly, NaN equal to NaN; every
number and string of every ``metrics.json`` exactly, leaving out keys that are wall-clock times
(``TIMING_KEYS``); and every CSV byte for byte except columns named as timings. Prints one line per
difference and a summary; exits 1 when anything differs or a file exists on one side only.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import sys
from pathlib import Path

import h5py
import numpy as np

TIMING_KEYS = ("wall_time", "seconds", "elapsed", "time_s", "_s_per", "per_s", "created", "duration_s")
SKIP_ATTRS = ("created", "engine_version", "wall_time")  # provenance that names a time or a checkout


def _timing(key: str) -> bool:
    return any(t in key for t in TIMING_KEYS)


def _compare_values(a, b, where: str, out: list[str]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if _timing(str(k)):
                continue
            if k not in a or k not in b:
                out.append(f"{where}.{k}: only in {'after' if k not in a else 'before'}")
            else:
                _compare_values(a[k], b[k], f"{where}.{k}", out)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out.append(f"{where}: {len(a)} vs {len(b)} items")
        for i, (x, y) in enumerate(zip(a, b)):
            _compare_values(x, y, f"{where}[{i}]", out)
    elif isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return
    elif a != b:
        out.append(f"{where}: {a!r} vs {b!r}")


def _compare_h5(pa: Path, pb: Path, rel: str, out: list[str]) -> None:
    with h5py.File(pa, "r") as fa, h5py.File(pb, "r") as fb:
        names_a, names_b = [], []
        fa.visit(names_a.append)
        fb.visit(names_b.append)
        for name in sorted(set(names_a) | set(names_b)):
            if name not in fa or name not in fb:
                out.append(f"{rel}:{name}: only in {'after' if name not in fa else 'before'}")
                continue
            oa, ob = fa[name], fb[name]
            if isinstance(oa, h5py.Dataset):
                va, vb = oa[()], ob[()]
                same = (np.array_equal(va, vb, equal_nan=True) if np.asarray(va).dtype.kind in "fc"
                        else np.array_equal(va, vb))
                if not same:
                    out.append(f"{rel}:{name}: arrays differ")
            for key in sorted(set(oa.attrs) | set(ob.attrs)):
                if any(s in key for s in SKIP_ATTRS):
                    continue
                va, vb = oa.attrs.get(key), ob.attrs.get(key)
                if not np.array_equal(np.asarray(va), np.asarray(vb)):
                    out.append(f"{rel}:{name}@{key}: {va!r} vs {vb!r}")
        for key in sorted(set(fa.attrs) | set(fb.attrs)):
            if not any(s in key for s in SKIP_ATTRS) and not np.array_equal(
                    np.asarray(fa.attrs.get(key)), np.asarray(fb.attrs.get(key))):
                out.append(f"{rel}@{key}: {fa.attrs.get(key)!r} vs {fb.attrs.get(key)!r}")


def _compare_csv(pa: Path, pb: Path, rel: str, out: list[str]) -> None:
    ra = list(csv.reader(io.StringIO(pa.read_text())))
    rb = list(csv.reader(io.StringIO(pb.read_text())))
    if not ra or not rb or ra[0] != rb[0] or len(ra) != len(rb):
        if ra != rb:
            out.append(f"{rel}: header or row count differs")
        return
    keep = [i for i, name in enumerate(ra[0]) if not _timing(name)]
    for n, (x, y) in enumerate(zip(ra[1:], rb[1:]), 2):
        if [x[i] for i in keep if i < len(x)] != [y[i] for i in keep if i < len(y)]:
            out.append(f"{rel}: row {n} differs")


def compare(before: Path, after: Path) -> tuple[int, list[str]]:
    """(files compared, differences) between two results directories."""
    def files(root: Path) -> set[str]:
        return {p.relative_to(root).as_posix() for p in root.rglob("*")
                if p.is_file() and (p.suffix in (".h5", ".csv") or p.name == "metrics.json")}

    fa, fb = files(before), files(after)
    out = [f"{rel}: only in {'before' if rel in fa else 'after'}" for rel in sorted(fa ^ fb)]
    for rel in sorted(fa & fb):
        pa, pb = before / rel, after / rel
        if rel.endswith(".h5"):
            _compare_h5(pa, pb, rel, out)
        elif rel.endswith(".csv"):
            _compare_csv(pa, pb, rel, out)
        else:
            _compare_values(json.loads(pa.read_text()), json.loads(pb.read_text()), rel, out)
    return len(fa & fb), out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("before", type=Path, help="results directory of the reference run")
    ap.add_argument("after", type=Path, help="results directory of the run to check")
    args = ap.parse_args(argv)
    for d in (args.before, args.after):
        if not d.is_dir():
            ap.error(f"{d}: not a directory")
    n, diffs = compare(args.before, args.after)
    for line in diffs:
        print(line)
    print(f"{n} files compared (HDF5 datasets and attributes, metrics.json, CSV; timings left out): "
          f"{'identical' if not diffs else f'{len(diffs)} difference(s)'}")
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
