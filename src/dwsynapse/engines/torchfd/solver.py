"""Landau-Lifshitz-Gilbert right-hand side and the fixed-step Heun integrator.

    dm/dt = -gamma / (1 + alpha^2) [ m x B + alpha m x (m x B) ],   gamma = 1.7595e11 rad/(s T)

B [T] is the sum of exchange, DMI, uniaxial anisotropy, demag, an optional uniform applied field,
the SOT effective field and Brown's thermal field. Heun (stochastic, Stratonovich): the predictor
m1 = norm(m + dt k(m)), then m' = norm(m + dt/2 (k(m) + k(m1))) with the same thermal field in both
stages; ``norm`` renormalizes |m| = 1 on magnetic cells and keeps m = 0 elsewhere.

The whole step is one function of tensors (no Python loop over instances) so that it can be
compiled with ``torch.compile``; :func:`make_stepper` falls back to eager mode when compiling fails.
"""

from __future__ import annotations

import copy
import logging
import os
import warnings
from dataclasses import dataclass, replace

import torch

from .anisotropy import anisotropy_energy, anisotropy_field
from .demag import make_demag
from .dmi import dmi_energy, dmi_field
from .exchange import exchange_energy, exchange_field
from .mesh import GAMMA_LL, Mesh, neighbour_differences
from .sot import sot_field

log = logging.getLogger(__name__)


@dataclass
class Material:
    """Material parameters in SI: Ms [A/m], Aex [J/m], alpha [-], Dind [J/m^2], Ku [J/m^3]."""

    ms: float
    aex: float
    alpha: float
    dind: float = 0.0
    ku: float = 0.0

    def __post_init__(self) -> None:
        if not self.ms > 0:
            raise ValueError(f"Ms must be > 0 A/m, got {self.ms}")
        if self.aex < 0:
            raise ValueError(f"Aex must be >= 0 J/m, got {self.aex}")
        if not self.alpha > 0:
            raise ValueError(f"alpha must be > 0, got {self.alpha}")
        if self.dind != 0 and self.aex <= 0:
            raise ValueError("interfacial DMI needs Aex > 0 (its surface condition is D/2A)")


class LLGSystem:
    """Effective field and LLG right-hand side of a batch of instances on one mesh."""

    def __init__(self, mesh: Mesh, material: Material, demag: str = "newell", b_ext=(0.0, 0.0, 0.0)):
        self.mesh = mesh
        self.mat = material
        self.demag = make_demag(demag, mesh, material.ms)
        self.b_ext = torch.as_tensor(b_ext, dtype=mesh.dtype, device=mesh.device).view(1, 3, 1, 1) * mesh.mask
        self.has_ext = any(float(v) != 0.0 for v in b_ext)
        self.pref = -GAMMA_LL / (1.0 + material.alpha**2)

    def with_damping(self, alpha: float) -> LLGSystem:
        """The same system (mesh, material, demag kernel shared, not recomputed) with Gilbert damping ``alpha``."""
        other = copy.copy(self)
        other.mat = replace(self.mat, alpha=alpha)
        other.pref = -GAMMA_LL / (1.0 + alpha**2)
        return other

    def field(self, m: torch.Tensor, b_th: torch.Tensor, a_dl: torch.Tensor, a_fl: torch.Tensor) -> torch.Tensor:
        """Total effective field [T] for ``m`` (B, 3, ny, nx)."""
        mat, mesh = self.mat, self.mesh
        b = anisotropy_field(m, mat.ku, mat.ms) + b_th + sot_field(m, mesh.mask, a_dl, a_fl)
        if mat.aex > 0 or mat.dind != 0:
            diffs = neighbour_differences(m, mesh)
            if mat.aex > 0:
                b = b + exchange_field(diffs, mesh, mat.aex, mat.ms)
            if mat.dind != 0:
                b = b + dmi_field(m, diffs, mesh, mat.dind, mat.aex, mat.ms)
        if self.demag is not None:
            b = b + self.demag(m)
        if self.has_ext:
            b = b + self.b_ext
        return b

    def energy_terms(self, m: torch.Tensor) -> dict[str, torch.Tensor]:
        """Energy [J] per instance (shape (B,)) of each conservative term at ``m``: exchange, dmi,
        anisotropy, demag and zeeman (SOT and the thermal field have no energy). Each is computed by
        its term's own ``*_energy`` function, consistently with the field of :meth:`field`."""
        mat, mesh = self.mat, self.mesh
        vol = mesh.cell_volume
        zero = torch.zeros(m.shape[0], dtype=m.dtype, device=m.device)
        diffs = neighbour_differences(m, mesh)
        terms = {
            "exchange": exchange_energy(m, diffs, mesh, mat.aex, mat.ms) if mat.aex > 0 else zero,
            "dmi": dmi_energy(m, diffs, mesh, mat.dind, mat.aex, mat.ms) if mat.dind != 0 else zero,
            "anisotropy": anisotropy_energy(m, mat.ku, vol),
            "demag": self.demag.energy(m) if self.demag is not None else zero,
            "zeeman": -mat.ms * vol * (m * self.b_ext).sum(dim=(1, 2, 3)) if self.has_ext else zero,
        }
        return terms

    def energy(self, m: torch.Tensor) -> torch.Tensor:
        """Total energy [J] per instance, shape (B,): the sum of :meth:`energy_terms`."""
        return sum(self.energy_terms(m).values())

    def rhs(self, m, b_th, a_dl, a_fl):
        """dm/dt [1/s] from the LLG equation in Landau-Lifshitz form."""
        b = self.field(m, b_th, a_dl, a_fl)
        mxb = torch.linalg.cross(m, b, dim=1)
        return self.pref * (mxb + self.mat.alpha * torch.linalg.cross(m, mxb, dim=1))

    def normalize(self, m: torch.Tensor) -> torch.Tensor:
        """|m| = 1 on magnetic cells, 0 elsewhere."""
        n2 = (m * m).sum(dim=1, keepdim=True)
        return m * torch.rsqrt(n2.clamp_min(1e-30)) * self.mesh.mask

    def heun_step(self, m, b_th, a_dl, a_fl, dt):
        """One Heun step of length ``dt`` [s] (0-d tensor) with thermal field ``b_th`` [T]."""
        k1 = self.rhs(m, b_th, a_dl, a_fl)
        m1 = self.normalize(m + dt * k1)
        k2 = self.rhs(m1, b_th, a_dl, a_fl)
        return self.normalize(m + (0.5 * dt) * (k1 + k2))


def compile_requested(config_value: bool | None) -> bool:
    """Whether to compile the step: env ``DWSYNAPSE_TORCH_COMPILE`` (0/1) overrides the config value."""
    env = os.environ.get("DWSYNAPSE_TORCH_COMPILE")
    if env is not None and env.strip() != "":
        return env.strip().lower() not in ("0", "false", "no", "off")
    return bool(config_value)


class Stepper:
    """Callable ``(m, b_th, a_dl, a_fl, dt) -> m_next`` running ``system.heun_step``, compiled with
    ``torch.compile`` when requested and possible, otherwise eager. ``compiled`` says which ran."""

    def __init__(self, system: LLGSystem, compile: bool = False):
        self.system = system
        self.compiled = False
        self._fn = system.heun_step
        if compile:
            # the demag FFTs have complex inputs/outputs, which inductor runs as library calls (the
            # intended path); its warning about complex code generation would be repeated in every log
            warnings.filterwarnings("ignore", message="Torchinductor does not support code generation for complex")
            try:
                self._fn = torch.compile(system.heun_step, dynamic=None)
                self.compiled = True
            except Exception as exc:  # noqa: BLE001 - any compiler problem means "run eager"
                log.warning("torch.compile unavailable (%s); running eager", exc)

    def __call__(self, m, b_th, a_dl, a_fl, dt):
        if self.compiled:
            try:
                return self._fn(m, b_th, a_dl, a_fl, dt)
            except Exception as exc:  # noqa: BLE001 - fall back once, keep running
                log.warning("compiled step failed (%s: %s); falling back to eager", type(exc).__name__, exc)
                self.compiled = False
                self._fn = self.system.heun_step
        return self._fn(m, b_th, a_dl, a_fl, dt)
