"""Per-sample training throughput: straightforward NumPy (dwsynapse.nn.reference) vs the numba kernels.

Both run the same in-situ step (forward, backward, outer-product update, quantize, compare,
program) and the float step on the same images, from the same initial state (config.yaml's init), in
this one process; the script prints ms per sample, the speed-up ratios and how closely the two
results agree. The two implementations are timed alternately ``--repeats`` times and the ratio is
that of the medians (with the range of the per-repeat ratios), because a loaded machine slows
either side by up to 2x for seconds at a time.

    NUMBA_NUM_THREADS=1 .venv/bin/python bench/train_throughput.py [--mnist results/data/mnist] [--n 300]

Without MNIST files it uses a generated MNIST-shaped set. The device model is a synthetic one
(level means -0.833, -0.5, 0, 0.5, 1 with 0.1 spread, 250 samples each), the paper's targets (docs/design.md "Device physics").
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from dwsynapse.config import load_config
from dwsynapse.mnist import load_mnist, make_synthetic_mnist
from dwsynapse.nn import kernels as K
from dwsynapse.nn.devicemodel import DeviceConfig, build_device_model, synthetic_device_stats
from dwsynapse.nn.network import Layout, init_weights
from dwsynapse.nn.quantize import quantize
from dwsynapse.nn.reference import reference_step
from dwsynapse.nn.trainer import Data

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mnist", default="results/data/mnist")
    ap.add_argument("--n", type=int, default=300, help="images timed with NumPy (numba runs 10x as many)")
    ap.add_argument("--states", type=int, default=5)
    ap.add_argument("--alpha", type=float, default=0.15)
    ap.add_argument("--repeats", type=int, default=5, help="alternate NumPy and numba timings this many times")
    args = ap.parse_args()

    if Path(args.mnist, "train-images-idx3-ubyte").exists():
        data = Data.from_mnist(load_mnist(args.mnist, 127, n_train=10 * args.n, n_test=1))
        source = f"MNIST from {args.mnist}"
    else:
        tmp = tempfile.mkdtemp()
        make_synthetic_mnist(tmp, 10 * args.n, 1, seed=0)
        data = Data.from_mnist(load_mnist(tmp, 127))
        source = "generated MNIST-shaped images"
    layout = Layout.from_hidden((392, 196, 98))
    dev = build_device_model(synthetic_device_stats(0), DeviceConfig(states=args.states, alpha=args.alpha))
    tables = dev.kernel_tables
    key = np.uint64(12345)
    eta = 0.007
    train = load_config(Path(__file__).resolve().parents[1] / "config.yaml")["train"]
    print(f"data: {source}; network {layout.sizes}; {layout.n_weights} weights; "
          f"{args.states}-state alpha={args.alpha}; float64; init {train['init']} ({train['init_std']})")

    for mode, name in ((K.MODE_DEVICE, "in-situ"), (K.MODE_FLOAT, "float")):
        w0 = init_weights(layout, train["init"], np.random.default_rng(0), init_std=train["init_std"])
        u0 = w0.copy() if mode == K.MODE_FLOAT else quantize(w0, args.states)

        def run_numpy(n):
            wf = [layout.layer(w0.copy(), k) for k in range(layout.n_layers)]
            wu = [layout.layer(u0.copy(), k) for k in range(layout.n_layers)]
            cnt = np.zeros(layout.n_weights, np.int64)
            t = time.perf_counter()
            for s in range(n):
                reference_step(data.x_train[s], int(data.y_train[s]), wf, wu, list(layout.off[:-1]), eta, mode, True,
                               args.states, args.alpha, tables, key, cnt)
            return (time.perf_counter() - t) / n, wf, wu

        # numba on the same images from the same state (agreement), then on 10 n images (timing)
        common = (layout.off, layout.n_in, layout.n_out, eta, 1, mode, True, args.states, args.alpha, *tables, key)

        def run(n):
            w_fp, w_use = w0.copy(), u0.copy()
            if mode == K.MODE_FLOAT:
                w_use = w_fp
            c = np.zeros(layout.n_weights, np.int64)
            rd = np.zeros(int(layout.n_in.sum()), np.uint8)
            t = time.perf_counter()
            K.train_epoch(data.x_train, data.y_train, np.arange(n, dtype=np.int64), w_fp, w_use, *common[:3],
                          *common[3:], c, rd, np.zeros(layout.n_layers, np.int64), np.zeros(0, np.int64),
                          np.zeros((0, 0, 3)), 1, 0)
            return (time.perf_counter() - t) / n, w_fp, w_use

        run(2)  # compile
        _, w_fp, w_use = run(args.n)
        _, wf, wu = run_numpy(args.n)
        t_np, t_nb = [], []
        for _ in range(args.repeats):
            t_np.append(run_numpy(args.n)[0])
            t_nb.append(run(10 * args.n)[0])
        ratios = np.array(t_np) / np.array(t_nb)
        t_np, t_nb = float(np.median(t_np)), float(np.median(t_nb))
        ref_fp = np.concatenate([w.ravel() for w in wf])
        ref_use = np.concatenate([w.ravel() for w in wu])
        print(f"{name:8s} NumPy {t_np * 1e3:7.3f} ms/sample | numba {t_nb * 1e3:7.3f} ms/sample | "
              f"speed-up {t_np / t_nb:5.1f}x (repeats {ratios.min():.1f}-{ratios.max():.1f}x) | after {args.n} images: max|dW_fp| = "
              f"{np.max(np.abs(ref_fp - w_fp)):.2e}"
              + (f", identical device weights {np.mean(ref_use == w_use) * 100:.4f} %" if mode != K.MODE_FLOAT else ""))


if __name__ == "__main__":
    main()
