"""Device model of an n-state DW synapse, built from ``device_stats.h5`` (docs/design.md "Learning rules").

Quantized level q <-> one programming anisotropy Ku (one control voltage), evenly spaced from the
highest of the device's Ku values (level -1) to the lowest (+1): :func:`dwsynapse.levels.ku_for_states`.
With the paper's Ku = 7.0 ... 8.0e5 J/m^3 the 5-state device uses all five, the 3-state one 8.0, 7.5,
7.0 and the 2-state one 8.0, 7.0 (x 1e5 J/m^3).

Programming a device to level q is one SOT pulse at that Ku; the resulting weight <mz> is a draw
from that Ku's thermal <mz> samples: empirical resampling (default) or a Gaussian-kernel smoothed
version (``kde``, Silverman bandwidth, clipped to [-1, 1]). Draws use a counter-based hash of
(seed, layer, device index, that device's pulse number), so they do not depend on the order in
which devices are visited and are reproducible across runs, resumes and implementations.

A :class:`DeviceVariant` changes the statistics in a controlled way before the tables are built
(the learning study and the device-sensitivity figure): how many instances per Ku stand behind the
model, a scale of every level's spread about its mean, and a shift of level 0. The default is the
identity: the calibrated statistics as they are.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from dwsynapse.devicestats import DeviceStats, DeviceStatsError, read_device_stats
from dwsynapse.levels import PAPER_KU_VALUES, ku_for_states, programming_target
from dwsynapse.nn.quantize import check_states, levels
from dwsynapse.paper import PAPER_TARGETS

log = logging.getLogger(__name__)

SAMPLING_CODES = {"empirical": 0, "kde": 1}
RARE_HIT_PROBABILITY = 0.2  # a level whose one-pulse probability within +-alpha is below this is warned about


@dataclass(frozen=True)
class DeviceVariant:
    """A controlled change of the <mz> samples of every Ku before the device model is built.

    ``instances``: samples per Ku behind the model (None: all of the file). Fewer than the file has:
    its first ``instances`` (in the file's instance order); more: all of them plus draws from their
    Gaussian KDE (Silverman bandwidth, clipped to [-1, 1]) seeded by ``seed`` ("resampled").
    ``spread_scale``: every level's samples scaled about their mean by this factor (1 = as simulated).
    ``level0_shift``: added to the samples of level 0 (3- and 5-state devices; Ku = 7.5e5 J/m^3 for the
    paper's Ku values). Results are clipped to [-1, 1].
    """

    instances: int | None = None
    spread_scale: float = 1.0
    level0_shift: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.instances is not None and int(self.instances) < 1:
            raise ValueError(f"device variant instances must be >= 1 or null, got {self.instances!r}")
        if not float(self.spread_scale) >= 0.0:
            raise ValueError(f"device variant spread_scale must be >= 0, got {self.spread_scale!r}")
        if not abs(float(self.level0_shift)) <= 2.0:
            raise ValueError(f"device variant level0_shift must be in [-2, 2], got {self.level0_shift!r}")

    def apply(self, mz: np.ndarray, ku: float, level: float) -> tuple[np.ndarray, int]:
        """The changed samples of the Ku [J/m^3] that programs ``level`` and how many of them were
        resampled (drawn from the KDE)."""
        x = np.asarray(mz, np.float64)
        n_resampled = 0
        if self.instances is not None:
            n = int(self.instances)
            if n <= x.size:
                x = x[:n]
            else:
                rng = np.random.default_rng([int(self.seed), int(round(ku))])
                extra = rng.choice(x, n - x.size) + _silverman(x) * rng.standard_normal(n - x.size)
                x, n_resampled = np.concatenate([x, np.clip(extra, -1.0, 1.0)]), n - x.size
        if float(self.spread_scale) != 1.0:
            x = x.mean() + float(self.spread_scale) * (x - x.mean())
        if float(self.level0_shift) != 0.0 and level == 0.0:
            x = x + float(self.level0_shift)
        return np.clip(x, -1.0, 1.0), n_resampled


@dataclass(frozen=True)
class DeviceConfig:
    """What kind of synapse: number of states, tolerance alpha, how programming draws are made.

    ``alpha`` is the noise-tolerance margin (dimensionless weight units): a device is accepted when
    |W_dev - target(W_q)| <= alpha (:func:`dwsynapse.levels.programming_target`).
    ``max_program_attempts`` caps read-verify-write loops (ex-situ).
    ``ku_values`` are the device's programming anisotropies [J/m^3] (``device.ku_values``), from which
    the level <-> Ku map is derived (:func:`dwsynapse.levels.ku_for_states`).
    """

    states: int
    alpha: float
    sampling: str = "empirical"
    max_program_attempts: int = 1000
    variant: DeviceVariant = DeviceVariant()
    ku_values: tuple[float, ...] = PAPER_KU_VALUES

    def __post_init__(self) -> None:
        check_states(self.states)
        if not (0.0 <= float(self.alpha) < 1.0):
            raise ValueError(f"alpha must be in [0, 1), got {self.alpha!r}")
        if self.sampling not in SAMPLING_CODES:
            raise ValueError(f"device sampling must be one of {sorted(SAMPLING_CODES)}, got {self.sampling!r}")
        if int(self.max_program_attempts) < 1:
            raise ValueError(f"max_program_attempts must be >= 1, got {self.max_program_attempts!r}")


@dataclass
class DeviceModel:
    """Per-level sample tables ready for the numba kernels.

    ``samples[k, :counts[k]]`` are the <mz> values of level k (ascending levels), ``targets[k]`` the
    weight its programming aims at (:func:`dwsynapse.levels.programming_target`: the level value, for
    level -1 its mean), ``bandwidth[k]`` the KDE bandwidth (0 for empirical sampling),
    ``hit_probability[k]`` the probability that one programming pulse lands within +-alpha of the target.
    """

    config: DeviceConfig
    level_values: np.ndarray
    targets: np.ndarray
    ku: np.ndarray
    samples: np.ndarray
    counts: np.ndarray
    bandwidth: np.ndarray
    hit_probability: np.ndarray
    level_mean: np.ndarray
    level_std: np.ndarray
    source: str = ""
    warnings: list[str] = field(default_factory=list)
    resampled: np.ndarray | None = None  # per level: samples drawn from the KDE by DeviceVariant.instances

    def __post_init__(self) -> None:
        if self.resampled is None:
            self.resampled = np.zeros(len(self.level_values), np.int64)

    @property
    def sampling_code(self) -> int:
        return SAMPLING_CODES[self.config.sampling]

    @property
    def kernel_tables(self) -> tuple:
        """(targets, samples, counts, bandwidth, sampling code): the device as the numba kernels and the
        NumPy reference take it (:mod:`dwsynapse.nn.kernels`)."""
        return self.targets, self.samples, self.counts, self.bandwidth, self.sampling_code

    def summary(self) -> dict:
        """JSON-ready description (per level: Ku, n samples, mean, std, hit probability)."""
        return {
            "source": self.source,
            "states": self.config.states,
            "alpha": self.config.alpha,
            "sampling": self.config.sampling,
            "variant": asdict(self.config.variant),
            "levels": [
                {
                    "level": float(self.level_values[k]),
                    "ku": float(self.ku[k]),
                    "target": float(self.targets[k]),
                    "n_samples": int(self.counts[k]),
                    "n_resampled": int(self.resampled[k]),
                    "mean": float(self.level_mean[k]),
                    "std": float(self.level_std[k]),
                    "hit_probability": float(self.hit_probability[k]),
                }
                for k in range(len(self.level_values))
            ],
            "warnings": list(self.warnings),
        }


def _silverman(x: np.ndarray) -> float:
    n = x.size
    if n < 2:
        return 0.0
    sd = float(np.std(x, ddof=1))
    iqr = float(np.subtract(*np.percentile(x, [75, 25])))
    spread = min(sd, iqr / 1.349) if iqr > 0 else sd
    return 0.9 * spread * n ** (-0.2)


def _normal_cdf(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.vectorize(math.erf)(np.asarray(z, float) / math.sqrt(2.0)))


def _hit_probability(x: np.ndarray, target: float, alpha: float, bw: float) -> float:
    lo, hi = target - alpha, target + alpha
    if bw <= 0:
        return float(np.mean((x >= lo) & (x <= hi)))
    # Mass of the clipped KDE inside [lo, hi]; clipping to [-1, 1] moves tails onto the bounds.
    upper = np.where(hi >= 1.0, 1.0, _normal_cdf((hi - x) / bw))
    lower = np.where(lo <= -1.0, 0.0, _normal_cdf((lo - x) / bw))
    return float(np.mean(upper - lower))


def build_device_model(stats: DeviceStats, config: DeviceConfig, source: str = "") -> DeviceModel:
    """Build the per-level sample tables of ``config.states`` from device statistics ``stats``.

    ``config.variant`` is applied to each Ku's samples first. Levels that can never (probability 0)
    or rarely land within +-alpha of their target are logged as warnings and listed in
    :meth:`DeviceModel.summary`, so a stuck programming loop is known before training starts; the
    run goes on (in-situ re-pulses such devices, ex-situ stops at ``max_program_attempts``).
    """
    kus = ku_for_states(config.states, config.ku_values)
    vals = levels(config.states)
    groups = []
    for ku in kus:
        try:
            g = stats.by_ku(ku)
        except DeviceStatsError as exc:
            raise DeviceStatsError(f"{source or 'device statistics'}: {config.states}-state device needs Ku={ku:g} J/m^3: {exc}") from None
        if g.n_ok == 0:
            raise DeviceStatsError(f"{source or 'device statistics'}: group {g.name} has no successful instances")
        groups.append(g)
    changed = [config.variant.apply(g.mz, ku, level) for g, ku, level in zip(groups, kus, vals)]
    m = max(x.size for x, _ in changed)
    samples = np.zeros((len(kus), m))
    counts = np.zeros(len(kus), np.int64)
    bw = np.zeros(len(kus))
    hit = np.zeros(len(kus))
    targets = np.zeros(len(kus))
    mean = np.zeros(len(kus))
    std = np.zeros(len(kus))
    resampled = np.array([r for _, r in changed], np.int64)
    warnings = []
    for k, (x, _) in enumerate(changed):
        samples[k, : x.size] = x
        counts[k] = x.size
        mean[k], std[k] = float(x.mean()), float(x.std())
        bw[k] = _silverman(x) if config.sampling == "kde" else 0.0
        targets[k] = programming_target(vals[k], x)
        hit[k] = _hit_probability(x, targets[k], config.alpha, bw[k])
        where = f"level {vals[k]:+g} (Ku={kus[k]:g} J/m^3, mean <mz>={mean[k]:+.3f}, target {targets[k]:+.3f})"
        if hit[k] == 0.0:
            msg = (f"{where}: no programming draw can land within +-{config.alpha:g}; "
                   f"programming it always fails (probability 0)")
        elif hit[k] < RARE_HIT_PROBABILITY:
            msg = f"{where}: a pulse lands within +-{config.alpha:g} with probability {hit[k]:.3f} only"
        else:
            continue
        warnings.append(msg)
        log.warning("device model: %s", msg)
    return DeviceModel(config, vals, targets, np.asarray(kus), samples, counts, bw, hit, mean, std, source, warnings,
                       resampled)


def load_device_model(path: str | Path, config: DeviceConfig) -> DeviceModel:
    """Read ``device_stats.h5`` at ``path`` and build the device model for ``config``."""
    return build_device_model(read_device_stats(path), config, source=str(path))


def synthetic_device_stats(seed: int, spread: float = 0.1, n: int = 250,
                           means: dict[float, float] | None = None) -> DeviceStats:
    """Device statistics drawn from N(mean, spread) per Ku, clipped to [-1, 1] (<mz> cannot exceed 1).

    ``means`` maps Ku [J/m^3] to mean <mz> (default: the paper's targets, :data:`dwsynapse.paper.PAPER_TARGETS`,
    a device with exactly the paper's levels for tests and benchmarks); ``n`` instances per Ku. The file's
    engine attribute is 'synthetic' so it is never mistaken for a simulation result.
    """
    rng = np.random.default_rng(seed)
    means = PAPER_TARGETS if means is None else means
    from dwsynapse.devicestats import KuStats

    groups = [KuStats(ku=float(ku), mz=np.clip(rng.normal(m, spread, n), -1.0, 1.0), dw_x=np.full(n, np.nan),
                      seed=np.arange(n, dtype=np.int64), n_requested=n) for ku, m in means.items()]
    return DeviceStats(groups=groups, engine="synthetic", engine_version=f"normal spread={spread} seed={seed}")


def register(sub) -> None:
    """``dwsynapse device-synthetic``: the near-paper device file behind the learning control run."""
    from dwsynapse.command import add_common_arguments

    p = sub.add_parser("device-synthetic",
                       help="write a synthetic device_stats.h5 with the paper's levels (the learning control)",
                       description="Write device statistics drawn from N(paper target, spread) per Ku of "
                                   "device.ku_values (targets: dwsynapse.paper.PAPER_TARGETS). `make control` "
                                   "trains the config's whole grid on it, so the report can tell which numbers "
                                   "the simulated device rather than the learning decides.")
    add_common_arguments(p)
    p.add_argument("--out", required=True, help="device_stats.h5 to write")
    p.add_argument("--spread", type=float, default=0.1, help="standard deviation of <mz> per Ku (default %(default)s)")
    p.add_argument("--instances", type=int, default=None, help="samples per Ku (default: device.instances_per_ku)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: device.thermal_seed)")
    p.set_defaults(func=_cli_synthetic)


def _cli_synthetic(args) -> int:
    from dwsynapse.command import start_command
    from dwsynapse.devicestats import write_device_stats
    from dwsynapse.settings import device_settings

    cfg = start_command(args)
    dev = device_settings(cfg)
    kus = list(dev.ku_values)
    unknown = [k for k in kus if k not in PAPER_TARGETS]
    if unknown:
        raise ValueError(f"{args.config}: device.ku_values {unknown} have no paper target (known: {sorted(PAPER_TARGETS)})")
    if not args.spread >= 0:
        raise ValueError(f"--spread must be >= 0, got {args.spread}")
    n = int(args.instances or dev.instances_per_ku)
    seed = int(dev.thermal_seed if args.seed is None else args.seed)
    write_device_stats(args.out, synthetic_device_stats(seed, args.spread, n, {k: PAPER_TARGETS[k] for k in kus}))
    log.info("wrote %s: %d Ku x %d samples, N(paper target, %g)", args.out, len(kus), n, args.spread)
    return 0
