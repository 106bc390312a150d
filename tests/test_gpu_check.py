"""bench/gpu_check.py in its CPU dry mode: every section runs and prints its figures, the mumax3
side-by-side with the stand-in of tests/test_mumax3.py."""

import os
import re
import subprocess
import sys

from tests.test_mumax3 import make_stand_in

from .conftest import REPO


def test_gpu_check_dry_mode_prints_every_section(tmp_path):
    env = dict(os.environ, MUMAX3=str(make_stand_in(tmp_path)), FAKE_MUMAX_STATE=str(tmp_path / "state"),
               DWSYNAPSE_CACHE=str(tmp_path / "cache"), OMP_NUM_THREADS="1")
    r = subprocess.run([sys.executable, str(REPO / "bench" / "gpu_check.py"), "--dry"], capture_output=True,
                       text=True, env=env, timeout=300, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    out = r.stdout
    # 1: the same engine on the same device and dtype agrees exactly, at T = 0 and T > 0
    assert re.findall(r"max \|d<mz>\| cpu float64: (\S+),", out) == ["0.00e+00", "0.00e+00"]
    # 2: one throughput line per batch size with a projected paper wall time
    rates = re.findall(r"B = +(\d+): .* ([\d.]+) instance-steps/s .* paper device stage at this rate: <= ([\d.]+) h",
                       out)
    assert [b for b, _, _ in rates] == ["2", "4"] and all(float(v) > 0 and float(h) > 0 for _, v, h in rates)
    # 3: one row per Ku (the dry mode keeps two) with both engines' numbers
    rows = re.findall(r"^ +(7\S*) +\d+ +(-?[\d.]+) +([\d.]+) +(-?[\d.]+) +([\d.]+)$", out, re.M)
    assert [k for k, *_ in rows] == ["7e+05", "7.25e+05"], out
    assert "mumax 3.11.1 [stand-in" in out and "done in" in out


def test_gpu_check_without_a_gpu_says_what_to_do(tmp_path):
    r = subprocess.run([sys.executable, str(REPO / "bench" / "gpu_check.py")], capture_output=True, text=True,
                       env=dict(os.environ, CUDA_VISIBLE_DEVICES=""), timeout=120, cwd=tmp_path)
    assert r.returncode == 2 and "no CUDA device" in r.stderr and "--dry" in r.stderr
