"""Device model of an n-state DW synapse, built from ``device_stats.h5`` (DESIGN.md §5).

Quantized level q <-> one programming anisotropy Ku (one control voltage):

    5 states: -1, -0.5, 0, 0.5, 1  <->  Ku = 8.0, 7.75, 7.5, 7.25, 7.0 (x 1e5 J/m^3)
    3 states: -1, 0, 1             <->  Ku = 8.0, 7.5, 7.0
    2 states: -1, 1                <->  Ku = 8.0, 7.0

Programming a device to level q is one SOT pulse at that Ku; the resulting weight <mz> is a draw
from that Ku's thermal <mz> samples: empirical resampling (default) or a Gaussian-kernel smoothed
version (``kde``, Silverman bandwidth, clipped to [-1, 1]). Draws use a counter-based hash of
(seed, layer, device index, that device's pulse number), so they do not depend on the order in
which devices are visited and are reproducible across runs, resumes and implementations.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dwsynapse.devicestats import DeviceStats, DeviceStatsError, read_device_stats
from dwsynapse.nn.quantize import check_states, levels

log = logging.getLogger(__name__)

# Ku [J/m^3] programmed for each level, ascending level order (-1 ... 1).
KU_FOR_STATES: dict[int, tuple[float, ...]] = {
    5: (8.0e5, 7.75e5, 7.5e5, 7.25e5, 7.0e5),
    3: (8.0e5, 7.5e5, 7.0e5),
    2: (8.0e5, 7.0e5),
}
SAMPLING_CODES = {"empirical": 0, "kde": 1}


@dataclass(frozen=True)
class DeviceConfig:
    """What kind of synapse: number of states, tolerance alpha, how programming draws are made.

    ``alpha`` is the noise-tolerance margin (dimensionless weight units): a device is accepted when
    |W_dev - W_q| <= alpha. ``max_program_attempts`` caps read-verify-write loops (ex-situ).
    """

    states: int
    alpha: float
    sampling: str = "empirical"
    max_program_attempts: int = 100

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

    ``samples[k, :counts[k]]`` are the <mz> values of level k (ascending levels), ``bandwidth[k]``
    the KDE bandwidth (0 for empirical sampling), ``hit_probability[k]`` the probability that one
    programming pulse lands within +-alpha of the level value.
    """

    config: DeviceConfig
    level_values: np.ndarray
    ku: np.ndarray
    samples: np.ndarray
    counts: np.ndarray
    bandwidth: np.ndarray
    hit_probability: np.ndarray
    level_mean: np.ndarray
    level_std: np.ndarray
    source: str = ""
    warnings: list[str] = field(default_factory=list)

    @property
    def sampling_code(self) -> int:
        return SAMPLING_CODES[self.config.sampling]

    def summary(self) -> dict:
        """JSON-ready description (per level: Ku, n samples, mean, std, hit probability)."""
        return {
            "source": self.source,
            "states": self.config.states,
            "alpha": self.config.alpha,
            "sampling": self.config.sampling,
            "levels": [
                {
                    "level": float(self.level_values[k]),
                    "ku": float(self.ku[k]),
                    "n_samples": int(self.counts[k]),
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

    Levels that can never (probability 0) or rarely land within +-alpha of their target are logged
    as warnings and listed in :meth:`DeviceModel.summary`, so a stuck programming loop is known
    before training starts.
    """
    kus = KU_FOR_STATES[config.states]
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
    m = max(g.n_ok for g in groups)
    samples = np.zeros((len(kus), m))
    counts = np.zeros(len(kus), np.int64)
    bw = np.zeros(len(kus))
    hit = np.zeros(len(kus))
    mean = np.zeros(len(kus))
    std = np.zeros(len(kus))
    warnings = []
    for k, g in enumerate(groups):
        x = np.asarray(g.mz, np.float64)
        samples[k, : x.size] = x
        counts[k] = x.size
        mean[k], std[k] = float(x.mean()), float(x.std())
        bw[k] = _silverman(x) if config.sampling == "kde" else 0.0
        hit[k] = _hit_probability(x, vals[k], config.alpha, bw[k])
        if hit[k] == 0.0:
            msg = (f"level {vals[k]:+g} (Ku={kus[k]:g} J/m^3, mean <mz>={mean[k]:+.3f}): no programming draw can "
                   f"land within +-{config.alpha:g}; programming it always fails (probability 0)")
        elif hit[k] < 0.2:
            msg = (f"level {vals[k]:+g} (Ku={kus[k]:g} J/m^3, mean <mz>={mean[k]:+.3f}): a pulse lands within "
                   f"+-{config.alpha:g} with probability {hit[k]:.3f} only")
        else:
            continue
        warnings.append(msg)
        log.warning("device model: %s", msg)
    return DeviceModel(config, vals, np.asarray(kus), samples, counts, bw, hit, mean, std, source, warnings)


def load_device_model(path: str | Path, config: DeviceConfig) -> DeviceModel:
    """Read ``device_stats.h5`` at ``path`` and build the device model for ``config``."""
    return build_device_model(read_device_stats(path), config, source=str(path))


# <mz> per Ku that the device calibration aims at (DESIGN.md §3): stands in for a simulated file in tests
# and measurements until the simulated device statistics are calibrated.
TARGET_MEAN_MZ = {8.0e5: -0.833, 7.75e5: -0.5, 7.5e5: 0.0, 7.25e5: 0.5, 7.0e5: 1.0}


def synthetic_device_stats(seed: int, spread: float = 0.1, n: int = 250,
                           means: dict[float, float] | None = None) -> DeviceStats:
    """Device statistics drawn from N(mean, spread) per Ku, clipped to [-1, 1] (<mz> cannot exceed 1).

    ``means`` maps Ku [J/m^3] to mean <mz> (default :data:`TARGET_MEAN_MZ`); ``n`` instances per Ku.
    The file's engine attribute is 'synthetic' so it is never mistaken for a simulation result.
    """
    rng = np.random.default_rng(seed)
    means = TARGET_MEAN_MZ if means is None else means
    from dwsynapse.devicestats import KuStats

    groups = [KuStats(ku=float(ku), mz=np.clip(rng.normal(m, spread, n), -1.0, 1.0), dw_x=np.full(n, np.nan),
                      seed=np.arange(n, dtype=np.int64), n_requested=n) for ku, m in means.items()]
    return DeviceStats(groups=groups, engine="synthetic", engine_version=f"normal spread={spread} seed={seed}")
