"""Landau-Lifshitz-Gilbert right-hand side and the fixed-step integrators (Heun, classical RK4).

    dm/dt = -gamma / (1 + alpha^2) [ m x B + alpha m x (m x B) ],   gamma = 1.7595e11 rad/(s T)

B [T] is the sum of exchange, DMI, uniaxial anisotropy, demag, an optional uniform applied field,
the SOT effective field and Brown's thermal field. Heun (stochastic, Stratonovich): the predictor
m1 = norm(m + dt k(m)), then m' = norm(m + dt/2 (k(m) + k(m1))) with the same thermal field in both
stages; ``norm`` renormalizes |m| = 1 on magnetic cells and keeps m = 0 elsewhere. RK4
(:meth:`LLGSystem.rk4_step`) holds the thermal field and the current over the step as well (a piecewise
constant noise, whose ODE solutions converge to the Stratonovich solution as dt -> 0).

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
import torch.nn.functional as F

from .anisotropy import anisotropy_energy, anisotropy_field
from .demag import NewellDemag, ThinFilmDemag, make_demag
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
        ms = material.ms
        self._stencil = (2.0 * material.aex / (ms * mesh.dx**2), 2.0 * material.aex / (ms * mesh.dy**2),
                         material.dind / (ms * mesh.dx), material.dind / (ms * mesh.dy))
        self._diag = self._diagonals()

    def with_damping(self, alpha: float) -> LLGSystem:
        """The same system (mesh, material, demag kernel shared, not recomputed) with Gilbert damping ``alpha``."""
        other = copy.copy(self)
        other.mat = replace(self.mat, alpha=alpha)
        other.pref = -GAMMA_LL / (1.0 + alpha**2)
        return other

    def term_fields(self, m: torch.Tensor, b_th, a_dl, a_fl) -> dict[str, torch.Tensor]:
        """Each term's field [T] for ``m`` (B, 3, ny, nx), computed by its own module's ``*_field``
        function: the reference that :meth:`field` (one fused expression) must sum to."""
        mat, mesh = self.mat, self.mesh
        zero = torch.zeros_like(m)
        diffs = neighbour_differences(m, mesh)
        return {
            "exchange": exchange_field(diffs, mesh, mat.aex, mat.ms) if mat.aex > 0 else zero,
            "dmi": dmi_field(m, diffs, mesh, mat.dind, mat.aex, mat.ms) if mat.dind != 0 else zero,
            "anisotropy": anisotropy_field(m, mat.ku, mat.ms),
            "demag": self.demag(m) if self.demag is not None else zero,
            "zeeman": self.b_ext.expand_as(m),
            "sot": sot_field(m, mesh.mask, a_dl, a_fl),
            "thermal": (b_th * mesh.mask).expand_as(m),
        }

    def field(self, m: torch.Tensor, b_th, a_dl, a_fl) -> torch.Tensor:
        """Total effective field [T] for ``m`` (B, 3, ny, nx), the sum of :meth:`term_fields`, as one
        stacked tensor (see :meth:`field_components`)."""
        return torch.stack(self.field_components(m, b_th, a_dl, a_fl), dim=1)

    def field_components(self, m: torch.Tensor, b_th, a_dl, a_fl, b_far=None):
        """(bx, by, bz) [T], each (B, ny, nx): all terms in one expression per component, so that a
        compiled step reads m once per Heun stage instead of once per term. ``b_far`` (B, 3, ny, nx),
        when given, replaces the Newell demag field of ``m`` by a far part (:meth:`NewellDemag.far_field`)
        that :class:`Stepper` extrapolated from earlier states, plus each cell's field on itself from ``m``.

        Requires m = 0 outside the mask (what :meth:`normalize` keeps). Then a neighbour value
        ``m_+x`` etc. taken with zero fill beyond the array is ``have_xp * m_+x``, and on magnetic
        cells the exchange Laplacian, the bulk DMI differences and the ghost-cell surface terms of
        :mod:`.dmi` combine into

            bx = cx (mx_+x + mx_-x) + cy (mx_+y + mx_-y) + kx (mz_+x - mz_-x) + dx mx
            by = cx (my_+x + my_-x) + cy (my_+y + my_-y) + ky (mz_+y - mz_-y) + dy my
            bz = cx (mz_+x + mz_-x) + cy (mz_+y + mz_-y) - kx (mx_+x - mx_-x) - ky (my_+y - my_-y) + dz mz

        with cx = 2A/(Ms dx^2), kx = D/(Ms dx) (y alike) and the per-cell diagonals d* of
        :meth:`_diagonals` (the Laplacian's -cx (have_xp + have_xm) - ..., the surface self-terms
        D^2/(2 A Ms) and, for z, 2 Ku/Ms and the thin-film demag); the one-sided DMI differences
        cancel against the surface terms (:mod:`.dmi`). SOT, thermal, external and Newell demag
        fields are added, and the result is multiplied by the mask."""
        mat, mesh = self.mat, self.mesh
        mx, my, mz = m[:, 0], m[:, 1], m[:, 2]
        dx_map, dy_map, dz_map = self._diag
        bx = dx_map * mx + a_dl * mz
        by = dy_map * my - a_fl
        bz = dz_map * mz - a_dl * mx
        if mat.aex > 0 or mat.dind != 0:
            cx, cy, kx, ky = self._stencil
            xp, xm = F.pad(m[..., 1:], (0, 1)), F.pad(m[..., :-1], (1, 0))
            yp, ym = F.pad(m[..., 1:, :], (0, 0, 0, 1)), F.pad(m[..., :-1, :], (0, 0, 1, 0))
            sx, sy = xp + xm, yp + ym  # (B, 3, ny, nx) neighbour sums
            ax, ay = xp - xm, yp - ym  # central differences
            bx = bx + cx * sx[:, 0] + cy * sy[:, 0] + kx * ax[:, 2]
            by = by + cx * sx[:, 1] + cy * sy[:, 1] + ky * ay[:, 2]
            bz = bz + cx * sx[:, 2] + cy * sy[:, 2] - kx * ax[:, 0] - ky * ay[:, 1]
        th = b_th if b_th.dim() else b_th.expand(1, 3, 1, 1)  # (B, 3, ny, nx) noise or a 0-d zero
        bx, by, bz = bx + th[:, 0], by + th[:, 1], bz + th[:, 2]
        if b_far is not None:
            sx, sy, sz = self.demag.self_coef
            bx, by, bz = bx + b_far[:, 0] + sx * mx, by + b_far[:, 1] + sy * my, bz + b_far[:, 2] + sz * mz
        elif isinstance(self.demag, NewellDemag):
            bd = self.demag(m)
            bx, by, bz = bx + bd[:, 0], by + bd[:, 1], bz + bd[:, 2]
        if self.has_ext:
            bx, by, bz = bx + self.b_ext[:, 0], by + self.b_ext[:, 1], bz + self.b_ext[:, 2]
        mask = mesh.mask[:, 0]
        return bx * mask, by * mask, bz * mask

    def _diagonals(self):
        """Per-cell coefficients [T] of mx, my, mz in :meth:`field_components`, each (1, ny, nx) (z: (B, ny, nx)
        when Ku has one value per batch row), 0 off
        the mask: -cx (have_xp + have_xm) - cy (have_yp + have_ym) from the Laplacian, the ghost-cell
        self-terms (D^2/(2 A Ms)) (f_x+ + f_x-) (x), (f_y+ + f_y-) (y), both for z, plus 2 Ku/Ms and the
        thin-film demag -mu0 Ms for z."""
        mat, mesh = self.mat, self.mesh
        lap = torch.zeros_like(mesh.mask)
        if mat.aex > 0:
            cx, cy, _, _ = self._stencil
            lap = -cx * (mesh.have_xp + mesh.have_xm) - cy * (mesh.have_yp + mesh.have_ym)
        tx = mesh.free_xp + mesh.free_xm
        ty = mesh.free_yp + mesh.free_ym
        q = mat.dind**2 / (2.0 * mat.aex * mat.ms) if mat.dind != 0 else 0.0
        # Ku is a float or one value per batch row shaped (B, 1, 1): then the z diagonal is (B, ny, nx)
        dz = 2.0 * mat.ku / mat.ms + (self.demag.coef if isinstance(self.demag, ThinFilmDemag) else 0.0)
        m = mesh.mask[:, 0]
        lap, tx, ty = lap[:, 0], tx[:, 0], ty[:, 0]
        return (lap + q * tx) * m, (lap + q * ty) * m, (lap + q * (tx + ty) + dz) * m

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

    def rhs(self, m, b_th, a_dl, a_fl, b_far=None):
        """dm/dt [1/s] from the LLG equation in Landau-Lifshitz form, component by component."""
        bx, by, bz = self.field_components(m, b_th, a_dl, a_fl, b_far)
        mx, my, mz = m[:, 0], m[:, 1], m[:, 2]
        cx, cy, cz = my * bz - mz * by, mz * bx - mx * bz, mx * by - my * bx  # m x B
        a, p = self.mat.alpha, self.pref
        return torch.stack((p * (cx + a * (my * cz - mz * cy)), p * (cy + a * (mz * cx - mx * cz)),
                            p * (cz + a * (mx * cy - my * cx))), dim=1)

    def normalize(self, m: torch.Tensor) -> torch.Tensor:
        """|m| = 1 on magnetic cells, 0 elsewhere."""
        n2 = (m * m).sum(dim=1, keepdim=True)
        return m * torch.rsqrt(n2.clamp_min(1e-30)) * self.mesh.mask

    def heun_step(self, m, b_th, a_dl, a_fl, dt, b_far=None):
        """One Heun step of length ``dt`` [s] (0-d tensor) with thermal field ``b_th`` [T]; ``b_far``
        [T]: the far demag field of :meth:`field_components` (None: the full demag in both stages)."""
        k1 = self.rhs(m, b_th, a_dl, a_fl, b_far)
        m1 = self.normalize(m + dt * k1)
        k2 = self.rhs(m1, b_th, a_dl, a_fl, b_far)
        return self.normalize(m + (0.5 * dt) * (k1 + k2))

    def rk4_step(self, m, b_th, a_dl, a_fl, dt, b_far=None):
        """One classical Runge-Kutta step of length ``dt`` [s] (0-d tensor), thermal field ``b_th`` [T] and
        ``b_far`` as in :meth:`heun_step`, held over the step:

            k1 = k(m), k2 = k(m + dt/2 k1), k3 = k(m + dt/2 k2), k4 = k(m + dt k3)
            m' = norm(m + dt/6 (k1 + 2 k2 + 2 k3 + k4))

        Why: with weak damping the fastest exchange mode's z = omega dt (-alpha + i) / (1 + alpha^2)
        lies next to the imaginary axis, where Heun's |1 + z + z^2/2| exceeds 1 beyond |z| ~ 0.44
        (alpha 0.01) and RK4's stability region reaches |z| ~ 2.85: 6.4 times the step for twice the
        field evaluations (:func:`dwsynapse.engines.torchfd.racetrack.exchange_mode_growth`)."""
        k1 = self.rhs(m, b_th, a_dl, a_fl, b_far)
        k2 = self.rhs(m + (0.5 * dt) * k1, b_th, a_dl, a_fl, b_far)
        k3 = self.rhs(m + (0.5 * dt) * k2, b_th, a_dl, a_fl, b_far)
        k4 = self.rhs(m + dt * k3, b_th, a_dl, a_fl, b_far)
        return self.normalize(m + (dt / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4))


def compile_requested(config_value: bool | None) -> bool:
    """Whether to compile the step: env ``DWSYNAPSE_TORCH_COMPILE`` (0/1) overrides the config value."""
    env = os.environ.get("DWSYNAPSE_TORCH_COMPILE")
    if env is not None and env.strip() != "":
        return env.strip().lower() not in ("0", "false", "no", "off")
    return bool(config_value)


INTEGRATORS = ("heun", "rk4")  # device.solver.integrator


class Stepper:
    """Callable ``(m, b_th, a_dl, a_fl, dt) -> m_next`` running ``system.heun_step`` (``integrator``
    "heun") or ``system.rk4_step`` ("rk4"), compiled with ``torch.compile`` when requested and possible,
    otherwise eager. ``compiled`` says which ran.

    ``demag_refresh_steps`` = K > 1 (Newell demag only): the far part of the demag field (all but each
    cell's field on itself) is computed from m at every K-th step, B_r at step r K, and extrapolated
    linearly in between: step r K + j (j = 0 ... K-1) uses B_r + (j + 1/2) (B_r - B_(r-1)) / K, the
    estimate at the step's midpoint, in every stage of the step (second order in K dt, as Heun itself; holding
    B_r alone would lag the field by ~K dt / 2, which acts as a negative damping of slow wall modes).
    The self part, -mu0 Ms N(0) m, follows m in every stage. The demag FFTs, most of a step's cost, then
    run once per K steps instead of twice per step (docs/engine.md, "Far demag field every K steps").
    K = 1: the full demag in every stage."""

    def __init__(self, system: LLGSystem, compile: bool = False, demag_refresh_steps: int = 1,
                 integrator: str = "heun"):
        if int(demag_refresh_steps) < 1:
            raise ValueError(f"demag_refresh_steps must be >= 1, got {demag_refresh_steps!r}")
        if integrator not in INTEGRATORS:
            raise ValueError(f"integrator must be one of {', '.join(INTEGRATORS)}, got {integrator!r}")
        self.system = system
        self.integrator = integrator
        self.compiled = False
        self._step = system.heun_step if integrator == "heun" else system.rk4_step
        self._fn = self._step
        self.refresh = int(demag_refresh_steps) if isinstance(system.demag, NewellDemag) else 1
        self._far_fn = system.demag.far_field if self.refresh > 1 else None
        self._b_far = self._slope = None  # B_r and (B_r - B_(r-1)) / K
        self._calls = 0
        if compile:
            # the demag FFTs have complex inputs/outputs, which inductor runs as library calls (the
            # intended path); its warning about complex code generation would be repeated in every log
            warnings.filterwarnings("ignore", message="Torchinductor does not support code generation for complex")
            try:
                self._fn = torch.compile(self._step, dynamic=None)
                if self._far_fn is not None:
                    self._far_fn = torch.compile(system.demag.far_field, dynamic=None)
                self.compiled = True
            except Exception as exc:  # noqa: BLE001 - any compiler problem means "run eager"
                log.warning("torch.compile unavailable (%s); running eager", exc)

    def __call__(self, m, b_th, a_dl, a_fl, dt):
        args = (m, b_th, a_dl, a_fl, dt)
        if self.refresh > 1:
            j = self._calls % self.refresh
            if j == 0:
                b_new = self._run("_far_fn", self.system.demag.far_field, m)
                if self._b_far is not None:
                    self._slope = (b_new - self._b_far) / self.refresh
                self._b_far = b_new
            self._calls += 1
            # the first K steps have no earlier refresh to extrapolate from: B_0 is held
            b = self._b_far if self._slope is None else self._b_far + (j + 0.5) * self._slope
            args = args + (b,)
        return self._run("_fn", self._step, *args)

    def restart(self) -> None:
        """Forget the far field's state: the next call starts a new run (other states, another step)."""
        self._b_far = self._slope = None
        self._calls = 0

    def select(self, keep) -> None:
        """Keep only the batch rows ``keep`` of the far field's state (the caller dropped the others from m)."""
        if self._b_far is not None:
            self._b_far = self._b_far[keep].contiguous()
        if self._slope is not None:
            self._slope = self._slope[keep].contiguous()

    def _run(self, name: str, eager, *args):
        """``self.<name>(*args)``; a compiled function that fails switches both functions to eager once."""
        if self.compiled:
            try:
                return getattr(self, name)(*args)
            except Exception as exc:  # noqa: BLE001 - fall back once, keep running
                log.warning("compiled step failed (%s: %s); falling back to eager", type(exc).__name__, exc)
                self.compiled = False
                self._fn = self._step
                if self._far_fn is not None:
                    self._far_fn = self.system.demag.far_field
                return eager(*args)
        return getattr(self, name)(*args)
