"""What the network computes with: a typed synapse description, kept apart from the training loop
(docs/design.md "Learning rules"), as aihwkit separates its device configs from the trainer.

:func:`dwsynapse.nn.trainer.train` takes one of

- :class:`FloatSynapse` — the high-precision weights themselves (the float baseline, ex-situ (a));
- :class:`QuantizedSynapse` — W_q = Eq. 6 of the high-precision weights, deterministic (Hubara et
  al.; ex-situ (b));
- :class:`DeviceSynapse` — device weights drawn from a :class:`~dwsynapse.nn.devicemodel.DeviceModel`
  and re-programmed within +-alpha (Algorithm 1: in-situ training and ex-situ (c)), with how the
  devices start (``initial_programming``).

The device's own choices (states, alpha, programming-attempt cap, sampling, variant) stay in
:class:`~dwsynapse.nn.devicemodel.DeviceConfig`; the training hyper-parameters in
:class:`~dwsynapse.nn.trainer.TrainSettings`. :func:`dwsynapse.nn.common.device_synapse` builds a
:class:`DeviceSynapse` from the config (``train.initial_programming``).
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral
from typing import ClassVar, Union

from dwsynapse.nn.devicemodel import DeviceModel
from dwsynapse.nn.quantize import check_states

INITIAL_PROGRAMMING = ("program", "ideal")


def check_initial_programming(value: str) -> str:
    """``value`` if it is one of :data:`INITIAL_PROGRAMMING`, else a ValueError naming the config key."""
    if value not in INITIAL_PROGRAMMING:
        raise ValueError(f"train.initial_programming must be one of {INITIAL_PROGRAMMING}, got {value!r}")
    return value


@dataclass(frozen=True)
class FloatSynapse:
    """The network computes with its high-precision (float64) weights; nothing is quantized or
    programmed, no pulse is counted."""

    kind: ClassVar[str] = "float"


@dataclass(frozen=True)
class QuantizedSynapse:
    """The network computes with W_q = Eq. 6 of its high-precision weights (clip to [-1, 1], ``states``
    evenly spaced levels, a tie rounds up), deterministic (Hubara et al.); gradients go to the
    high-precision weights (straight-through estimator). ``states``: 2, 3 or 5."""

    states: int
    kind: ClassVar[str] = "quantized"

    def __post_init__(self) -> None:
        if isinstance(self.states, bool) or not isinstance(self.states, Integral):
            raise ValueError(f"QuantizedSynapse.states must be an integer (2, 3 or 5), got {self.states!r}")
        check_states(self.states)


@dataclass(frozen=True, eq=False)  # eq=False: equal by identity (the device model holds arrays)
class DeviceSynapse:
    """The network computes with simulated DW devices (Algorithm 1): a device is re-programmed with one
    pulse, a draw from its level's <mz> samples, when |W_dev - target(W_q)| > alpha.

    ``device``: the device model (states, alpha, sampling and attempt cap in its
    :class:`~dwsynapse.nn.devicemodel.DeviceConfig`). ``initial_programming`` (config
    ``train.initial_programming``): 'program' — every device starts with one pulse at its initial
    level, counted in ``initial_pulses``; 'ideal' — every device starts exactly at its level's
    programming target, no pulse.
    """

    device: DeviceModel
    initial_programming: str = "program"
    kind: ClassVar[str] = "device"

    def __post_init__(self) -> None:
        if not isinstance(self.device, DeviceModel):
            raise ValueError("DeviceSynapse needs a device model (dwsynapse.nn.devicemodel.load_device_model or "
                             f"build_device_model: device statistics, states, alpha), got {self.device!r}")
        check_initial_programming(self.initial_programming)


Synapse = Union[FloatSynapse, QuantizedSynapse, DeviceSynapse]
SYNAPSES = (FloatSynapse, QuantizedSynapse, DeviceSynapse)
