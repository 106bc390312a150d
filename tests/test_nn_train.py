"""Training loop end to end on a tiny generated MNIST set: learning, seeding, checkpoint/resume,
the run folders of baseline / in-situ / ex-situ and the command line."""

import copy
import json

import numpy as np
import pytest

from dwsynapse.cli import main
from dwsynapse.config import with_defaults
from dwsynapse.devicestats import write_device_stats
from dwsynapse.mnist import load_mnist, make_synthetic_mnist
from dwsynapse.nn import kernels as K
from dwsynapse.nn import trainer
from dwsynapse.nn.baseline import run_baseline
from dwsynapse.nn.devicemodel import DeviceConfig, build_device_model, synthetic_device_stats
from dwsynapse.nn.exsitu import run_program, train_model
from dwsynapse.nn.insitu import run_insitu
from dwsynapse.nn.network import load_weights
from dwsynapse.nn.common import trace_spec
from dwsynapse.nn.network import Layout
from dwsynapse.nn.quantize import quantize
from dwsynapse.nn.synapse import DeviceSynapse, FloatSynapse, QuantizedSynapse
from dwsynapse.nn.trainer import Data, TraceSpec, TrainSettings, accuracy, train, trace_csv, trace_synapses, write_run
from dwsynapse.results import load_trace

SETTINGS = TrainSettings(seed=3, epochs=4, eta0=0.2, eta_decay=0.1, hidden=(32, 16))


@pytest.fixture(scope="module")
def mnist_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("mnist")
    make_synthetic_mnist(d, 300, 100, seed=0)
    return d


@pytest.fixture(scope="module")
def data(mnist_dir):
    return Data.from_mnist(load_mnist(mnist_dir))


@pytest.fixture(scope="module")
def stats_path(tmp_path_factory):
    p = tmp_path_factory.mktemp("dev") / "device_stats.h5"
    write_device_stats(p, synthetic_device_stats(0))
    return p


@pytest.fixture
def config(default_config, tmp_path):
    c = copy.deepcopy(default_config)
    c["results_dir"] = str(tmp_path / "results")
    c["train"].update(seed=3, epochs=3, eta0=0.2, hidden=[32, 16],
                      trace_synapse={"layer": 1, "count": 6, "images": 50, "every": 1})
    c["train"]["exsitu"]["programming_trials"] = 3
    return c


def _strip(epochs):
    return [{k: v for k, v in e.items() if k != "seconds"} for e in epochs]


def test_all_modes_learn_the_tiny_set(data):
    dm = build_device_model(synthetic_device_stats(0), DeviceConfig(5, 0.15))
    assert train(SETTINGS, data, FloatSynapse()).epochs[-1]["test_acc"] >= 0.9
    assert train(SETTINGS, data, QuantizedSynapse(5)).epochs[-1]["test_acc"] >= 0.8
    r = train(SETTINGS, data, DeviceSynapse(dm))
    assert r.epochs[-1]["test_acc"] >= 0.8
    assert all(e["pulses"] == sum(e["pulses_per_layer"]) for e in r.epochs)
    assert r.initial_pulses == r.layout.n_weights


def test_seeded_runs_are_bit_for_bit_reproducible(data):
    dm = build_device_model(synthetic_device_stats(0), DeviceConfig(3, 0.25))
    a = train(SETTINGS, data, DeviceSynapse(dm))
    b = train(SETTINGS, data, DeviceSynapse(dm))
    np.testing.assert_array_equal(a.w_fp, b.w_fp)
    np.testing.assert_array_equal(a.w_use, b.w_use)
    assert _strip(a.epochs) == _strip(b.epochs)
    c = train(TrainSettings(**{**SETTINGS.__dict__, "seed": 4}), data, DeviceSynapse(dm))
    assert not np.array_equal(a.w_fp, c.w_fp)


def test_interrupted_run_resumes_to_the_same_result(data, tmp_path, monkeypatch):
    dm = build_device_model(synthetic_device_stats(0), DeviceConfig(5, 0.15))
    trace = trainer.TraceSpec(layer=1, count=5, images=700)
    full = train(SETTINGS, data, DeviceSynapse(dm), trace=trace)
    real, calls = K.train_epoch, []

    def dying(*args):
        if len(calls) == 2:
            raise KeyboardInterrupt("killed")
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(K, "train_epoch", dying)
    with pytest.raises(KeyboardInterrupt):
        train(SETTINGS, data, DeviceSynapse(dm), run_dir=tmp_path, trace=trace)
    assert (tmp_path / trainer.CHECKPOINT).exists()
    monkeypatch.setattr(K, "train_epoch", real)
    resumed = train(SETTINGS, data, DeviceSynapse(dm), run_dir=tmp_path, trace=trace)
    np.testing.assert_array_equal(full.w_fp, resumed.w_fp)
    np.testing.assert_array_equal(full.w_use, resumed.w_use)
    np.testing.assert_array_equal(full.trace, resumed.trace)
    np.testing.assert_array_equal(full.trace_synapses, resumed.trace_synapses)
    assert full.trace.shape == (700, 5, 3)  # 300 images per epoch: the trace spans three epochs
    assert _strip(full.epochs) == _strip(resumed.epochs)


def test_checkpoint_of_other_settings_is_not_used(data, tmp_path, caplog):
    train(TrainSettings(**{**SETTINGS.__dict__, "epochs": 1}), data, FloatSynapse(), run_dir=tmp_path)
    other = TrainSettings(**{**SETTINGS.__dict__, "eta0": 0.1, "epochs": 1})
    with caplog.at_level("WARNING"):
        r = train(other, data, FloatSynapse(), run_dir=tmp_path)
    assert "other settings" in caplog.text
    assert r.epochs[0]["eta"] == 0.1
    (tmp_path / trainer.CHECKPOINT).write_bytes(b"garbage")
    with caplog.at_level("WARNING"):
        train(other, data, FloatSynapse(), run_dir=tmp_path)
    assert "unreadable checkpoint" in caplog.text


def test_checkpoint_of_another_synapse_is_not_used(data, tmp_path, caplog):
    one = TrainSettings(**{**SETTINGS.__dict__, "epochs": 1})
    dm = build_device_model(synthetic_device_stats(0), DeviceConfig(5, 0.15))
    dm3 = build_device_model(synthetic_device_stats(0), DeviceConfig(3, 0.15))
    other_samples = build_device_model(synthetic_device_stats(1), DeviceConfig(5, 0.15))
    # every pair differs in what the fingerprint names: kind, states, initial programming, device
    kinds = [FloatSynapse(), QuantizedSynapse(5), QuantizedSynapse(3), DeviceSynapse(dm),
             DeviceSynapse(dm, "ideal"), DeviceSynapse(dm3), DeviceSynapse(other_samples)]
    for before, after in zip(kinds, kinds[1:]):
        train(one, data, before, run_dir=tmp_path)
        caplog.clear()
        with caplog.at_level("WARNING"):
            train(one, data, after, run_dir=tmp_path)
        assert "other settings" in caplog.text, (before, after)
    caplog.clear()
    with caplog.at_level("INFO"):
        again = train(one, data, DeviceSynapse(other_samples), run_dir=tmp_path)  # the same synapse resumes
    assert "resuming" in caplog.text and again.initial_pulses == again.layout.n_weights


def test_bad_inputs_have_clear_errors(data):
    with pytest.raises(TypeError, match="synapse must be FloatSynapse"):
        train(SETTINGS, data, "float")  # the mode strings of the former API
    with pytest.raises(ValueError, match="device model"):
        DeviceSynapse(None)
    with pytest.raises(ValueError, match="initial_programming must be one of"):
        DeviceSynapse(build_device_model(synthetic_device_stats(0), DeviceConfig(2, 0.15)), "half")
    with pytest.raises(ValueError, match="states must be one of"):
        QuantizedSynapse(4)
    with pytest.raises(ValueError, match="must be an integer"):
        QuantizedSynapse(None)
    with pytest.raises(ValueError, match="backprop"):
        TrainSettings(seed=1, epochs=1, eta0=0.1, eta_decay=0.1, hidden=(4,), backprop="hebbian")
    with pytest.raises(ValueError, match="init_std"):
        train(TrainSettings(**{**SETTINGS.__dict__, "init": "normal_fixed"}), data, FloatSynapse())
    with pytest.raises(ValueError, match="binary"):
        Data.from_mnist(type("M", (), {"x_train": data.x_train * 0.5, "y_train": data.y_train,
                                       "x_test": data.x_test, "y_test": data.y_test})())


def test_baseline_insitu_exsitu_run_folders(config, data, stats_path, tmp_path):
    base = tmp_path / "baseline"
    m = run_baseline(config, data, base)
    for f in ("metrics.json", "metrics.csv", "weights.npz", "learning_curve.png"):
        assert (base / f).exists()
    assert not (base / trainer.CHECKPOINT).exists()
    assert m["method"] == "baseline" and m["states"] is None and len(m["epochs"]) == 3
    assert 0 <= m["final_test_acc"] <= 1 and m["final_test_acc"] == m["epochs"][-1]["test_acc"]
    assert (base / "metrics.csv").read_text().splitlines()[0] == "epoch,eta,train_acc,test_acc,seconds"

    ins = run_insitu(config, data, stats_path, 3, 0.25, tmp_path / "insitu")
    assert ins["method"] == "insitu" and ins["states"] == 3 and ins["alpha"] == 0.25
    assert ins["float_writes_per_epoch"] == ins["n_weights"] * 300
    assert ins["total_pulses"] == ins["initial_pulses"] + sum(e["pulses"] for e in ins["epochs"])
    # train.initial_programming: recorded in every run's settings, and at the top of an in-situ run's metrics
    assert m["settings"]["initial_programming"] == ins["settings"]["initial_programming"] == "program"
    assert ins["initial_programming"] == "program" and ins["initial_pulses"] == ins["n_weights"]
    trace = (tmp_path / "insitu" / "trace.csv").read_text().splitlines()
    assert trace[0] == "image,row,col,w_fp,w_q,w_dev" and len(trace) == 1 + 50 * 6
    assert len(ins["traced_synapses"]) == 6
    t = load_trace(tmp_path / "insitu" / "trace.csv")
    assert sorted(set(zip(t["row"].tolist(), t["col"].tolist()))) == [tuple(rc) for rc in ins["traced_synapses"]]
    layout, arrays = load_weights(tmp_path / "insitu" / "weights.npz")
    assert set(arrays) == {"w_fp", "w_dev"} and layout.sizes == (784, 32, 16, 10)

    train_model(config, data, "quantized", 5, tmp_path / "q")
    ex = run_program(config, data, "quantized", 5, 0.25, tmp_path / "q" / "weights.npz", tmp_path / "q" / "training.json",
                     stats_path, tmp_path / "exq")
    assert ex["method"] == "exsitu-quantized" and len(ex["hardware_test_acc"]) == 3
    assert ex["program_attempts"]["cap"] == config["train"]["exsitu"]["max_program_attempts"]
    assert ex["program_attempts"]["mean_per_device"] >= 1
    assert ex["hardware_test_acc_mean"] == pytest.approx(np.mean(ex["hardware_test_acc"]))
    fl = run_program(config, data, "float", 3, 0.15, base / "weights.npz", base / "metrics.json", stats_path,
                     tmp_path / "exf")
    assert fl["software_test_acc"] == m["final_test_acc"]
    st = train_model(config, data, "stochastic", 5, tmp_path / "s", stats_path, 0.25)
    assert st["method"] == "exsitu-stochastic" and "pulses" in st["epochs"][0]
    # (c)'s training is the in-situ run of the same (states, alpha): the workflow programs that network
    train_model(config, data, "stochastic", 3, tmp_path / "s3", stats_path, 0.25)
    _, s3 = load_weights(tmp_path / "s3" / "weights.npz")
    np.testing.assert_array_equal(s3["w_fp"], arrays["w_fp"])
    exc = run_program(config, data, "stochastic", 3, 0.25, tmp_path / "insitu" / "weights.npz",
                      tmp_path / "insitu" / "metrics.json", stats_path, tmp_path / "exc")
    assert exc["final_test_acc"] == ins["final_test_acc"] and exc["trained_from"].endswith("weights.npz")
    # software accuracy of (c) = the device weights the network was trained with; W_q alone is its own column
    assert exc["software_test_acc"] == ins["final_test_acc"]
    assert exc["quantized_test_acc"] == pytest.approx(accuracy(layout, quantize(arrays["w_fp"], 3), data.x_test,
                                                                data.y_test))
    exs = run_program(config, data, "stochastic", 5, 0.25, tmp_path / "s" / "weights.npz", tmp_path / "s" / "training.json",
                      stats_path, tmp_path / "exs")
    assert exs["software_test_acc"] == st["final_test_acc"]
    json.loads((tmp_path / "exq" / "metrics.json").read_text())


def test_cli_train_baseline(config, mnist_dir, tmp_path):
    import yaml

    cfg = tmp_path / "c.yaml"
    config["train"]["epochs"] = 1
    cfg.write_text(yaml.safe_dump(config))
    out = tmp_path / "out"
    assert main(["train-baseline", "--config", str(cfg), "--mnist", str(mnist_dir), "--out", str(out)]) == 0
    assert json.loads((out / "metrics.json").read_text())["n_train"] == 300
    with pytest.raises(SystemExit):
        main(["train-insitu", "--config", str(cfg), "--states", "4", "--alpha", "0.1", "--device-stats", "x"])


def test_initial_programming_and_kde_choices(data):
    one = TrainSettings(**{**SETTINGS.__dict__, "epochs": 1})
    dm = build_device_model(synthetic_device_stats(0), DeviceConfig(5, 0.15))
    assert train(one, data, DeviceSynapse(dm, initial_programming="ideal")).initial_pulses == 0
    assert train(one, data, DeviceSynapse(dm)).initial_pulses > 0
    kde = build_device_model(synthetic_device_stats(0), DeviceConfig(5, 0.15, sampling="kde"))
    r = train(one, data, DeviceSynapse(kde))
    # smoothed draws: device weights are not restricted to the stored samples
    assert not np.isin(r.w_use[r.dev_count > 0], kde.samples).all()


def test_traced_synapses_are_seeded_and_reproducible():
    layout = Layout((784, 392, 196, 98, 10))
    spec = TraceSpec(layer=2, count=32, images=10)
    a = trace_synapses(layout, spec, seed=1)
    np.testing.assert_array_equal(a, trace_synapses(layout, spec, seed=1))
    assert a.shape == (32, 2) and a.dtype == np.int64
    assert len({tuple(rc) for rc in a}) == 32  # without replacement
    assert np.all((a[:, 0] >= 0) & (a[:, 0] < 196) & (a[:, 1] >= 0) & (a[:, 1] < 98))
    assert [tuple(rc) for rc in a] == sorted(tuple(rc) for rc in a)
    # the documented stream: rng([seed, 0x7ACE]) picks flat positions in the layer
    pick = np.sort(np.random.default_rng([1, 0x7ACE]).choice(196 * 98, 32, replace=False))
    np.testing.assert_array_equal(a[:, 0] * 98 + a[:, 1], pick)
    assert not np.array_equal(a, trace_synapses(layout, spec, seed=2))
    # the whole layer can be traced; one more is an error naming the layer
    whole = trace_synapses(layout, TraceSpec(layer=3, count=980, images=1), seed=0)
    assert len({tuple(rc) for rc in whole}) == 980
    with pytest.raises(ValueError, match=r"count 981 is larger than weight layer 3 \(98 x 10 = 980"):
        trace_synapses(layout, TraceSpec(layer=3, count=981, images=1), seed=0)
    with pytest.raises(ValueError, match="layer 4 out of range"):
        trace_synapses(layout, TraceSpec(layer=4, count=1, images=1), seed=0)
    with pytest.raises(ValueError, match="count, .images and .every must be >= 1"):
        TraceSpec(layer=0, count=0, images=1)


def test_trace_spec_from_config():
    assert trace_spec(with_defaults({"train": {}})) is None  # the schema's default: no trace
    assert trace_spec({"train": {"trace_synapse": None}}) is None
    ts = {"layer": 2, "count": 32, "images": 2000, "every": 3}
    assert trace_spec({"train": {"trace_synapse": ts}}) == TraceSpec(2, 32, 2000, 3)
    with pytest.raises(ValueError, match=r"\['every'\] missing"):
        trace_spec({"train": {"trace_synapse": {"layer": 2, "count": 32, "images": 2000}}})
    with pytest.raises(ValueError, match="no longer used.*count"):
        trace_spec({"train": {"trace_synapse": {"layer": 2, "row": 0, "col": 0, "images": 5}}})
    with pytest.raises(ValueError, match="count must be an integer"):
        trace_spec({"train": {"trace_synapse": {"layer": 2, "count": 2.5, "images": 5, "every": 1}}})


def test_tracing_changes_no_other_draw(data):
    dm = build_device_model(synthetic_device_stats(0), DeviceConfig(5, 0.15))
    s = TrainSettings(**{**SETTINGS.__dict__, "epochs": 1})
    plain = train(s, data, DeviceSynapse(dm))
    traced = train(s, data, DeviceSynapse(dm), trace=TraceSpec(layer=0, count=40, images=300))
    np.testing.assert_array_equal(plain.w_fp, traced.w_fp)
    np.testing.assert_array_equal(plain.w_use, traced.w_use)
    assert plain.trace is None and traced.trace.shape == (300, 40, 3)
    # the last recorded image is the end of the epoch: the final weights of the traced synapses
    flat = traced.layout.off[0] + traced.trace_synapses[:, 0] * traced.layout.sizes[1] + traced.trace_synapses[:, 1]
    np.testing.assert_array_equal(traced.trace[-1, :, 0], traced.w_fp[flat])
    np.testing.assert_array_equal(traced.trace[-1, :, 2], traced.w_use[flat])
    with pytest.raises(ValueError, match="count 99999 is larger than weight layer 2"):
        train(s, data, DeviceSynapse(dm), trace=TraceSpec(layer=2, count=99999, images=3))


def test_long_format_trace_csv_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    trace = rng.uniform(-1, 1, (4, 3, 3))
    syn = np.array([[0, 5], [2, 1], [7, 0]], np.int64)
    text = trace_csv(trace, syn)
    assert text.splitlines()[0] == "image,row,col,w_fp,w_q,w_dev" and len(text.splitlines()) == 1 + 4 * 3
    write_run(tmp_path, {"epochs": [{"epoch": 1, "eta": 0.1, "train_acc": 0.5, "test_acc": 0.5}]}, trace, syn)
    t = load_trace(tmp_path / "trace.csv")
    np.testing.assert_array_equal(t["image"], np.repeat(np.arange(1, 5), 3))
    np.testing.assert_array_equal(t["row"], np.tile(syn[:, 0], 4))
    np.testing.assert_array_equal(t["col"], np.tile(syn[:, 1], 4))
    for j, k in enumerate(("w_fp", "w_q", "w_dev")):
        np.testing.assert_array_equal(t[k], trace[:, :, j].ravel())  # repr round-trips exactly
    with pytest.raises(ValueError, match="must be"):
        trace_csv(trace, syn[:2])
    write_run(tmp_path, {"epochs": [{"epoch": 1, "eta": 0.1, "train_acc": 0.5, "test_acc": 0.5}]}, trace, syn, 25)
    np.testing.assert_array_equal(load_trace(tmp_path / "trace.csv")["image"], np.repeat([1, 26, 51, 76], 3))
    with pytest.raises(ValueError, match="trace_synapses"):
        write_run(tmp_path, {"epochs": [{"epoch": 1, "eta": 0.1, "train_acc": 0.5, "test_acc": 0.5}]}, trace)
