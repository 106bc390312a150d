"""Exchange, DMI bulk stencil, anisotropy, SOT field and input checks of the torchfd engine."""

import numpy as np
import pytest
import torch

from dwsynapse.engines.torchfd import sot
from dwsynapse.engines.torchfd.anisotropy import anisotropy_field
from dwsynapse.engines.torchfd.dmi import dmi_field
from dwsynapse.engines.torchfd.exchange import exchange_field
from dwsynapse.engines.torchfd.mesh import Mesh, neighbour_differences
from dwsynapse.engines.torchfd.racetrack import resolve_device, resolve_dtype
from dwsynapse.engines.torchfd.solver import Material, compile_requested
from tests._torchfd_util import strip

MS, AEX, D = 8e5, 1.5e-11, 1e-3


def spiral(mesh, k):
    x = (torch.arange(mesh.nx, dtype=mesh.dtype) + 0.5) * mesh.dx
    m = torch.zeros(1, 3, mesh.ny, mesh.nx, dtype=mesh.dtype)
    m[0, 0] = torch.sin(k * x)
    m[0, 2] = torch.cos(k * x)
    return m


def test_exchange_of_a_spiral_is_the_discrete_laplacian():
    mesh = strip(3, 40, 2e-9)
    k = 2 * np.pi / 30e-9
    m = spiral(mesh, k)
    b = exchange_field(neighbour_differences(m, mesh), mesh, AEX, MS)
    factor = 2 * AEX / MS * (2 * np.cos(k * mesh.dx) - 2) / mesh.dx**2
    inner = slice(1, -1)
    assert torch.allclose(b[..., inner], factor * m[..., inner], rtol=1e-10, atol=1e-12)
    # free ends: a missing neighbour adds nothing (uniform m has no exchange field anywhere)
    u = torch.zeros_like(m)
    u[:, 2] = 1
    assert torch.count_nonzero(exchange_field(neighbour_differences(u, mesh), mesh, AEX, MS)) == 0


def test_dmi_bulk_stencil_on_a_spiral():
    mesh = strip(3, 40, 2e-9)
    k = 2 * np.pi / 30e-9
    m = spiral(mesh, k)
    b = dmi_field(m, neighbour_differences(m, mesh), mesh, D, AEX, MS)
    x = (torch.arange(mesh.nx, dtype=mesh.dtype) + 0.5) * mesh.dx
    s = np.sin(k * mesh.dx) / mesh.dx * 2 * D / MS
    # interior row and columns: (2D/Ms)(d_x mz, 0, -d_x mx) with central differences;
    # the y surfaces add +(D^2/2A Ms)(0, my, mz) per missing y neighbour (my = 0 here)
    q = D * D / (2 * AEX * MS)
    row = 1
    cols = slice(1, -1)
    assert torch.allclose(b[0, 0, row, cols], (-s * torch.sin(k * x))[cols], rtol=1e-9)
    assert torch.allclose(b[0, 1, row, cols], torch.zeros(38, dtype=mesh.dtype))
    assert torch.allclose(b[0, 2, row, cols], (-s * torch.cos(k * x))[cols], rtol=1e-9)
    edge_row = 0
    assert torch.allclose(b[0, 2, edge_row, cols], (-s * torch.cos(k * x) + q * torch.cos(k * x))[cols], rtol=1e-9)


def test_dmi_surface_condition_on_a_uniform_state():
    # uniform +z: the ghost cells give exactly -(D/(Ms dx)) (f_x+ - f_x-) (1, 0, 0) on the x faces
    # (dm/dx = (D/2A)(-m_z, 0, m_x) at a free x edge)
    mesh = strip(4, 6, 2e-9)
    m = torch.zeros(1, 3, 4, 6, dtype=mesh.dtype)
    m[:, 2] = 1
    b = dmi_field(m, neighbour_differences(m, mesh), mesh, D, AEX, MS)
    kx = D / (MS * mesh.dx)
    q = D * D / (2 * AEX * MS)
    assert b[0, 0, 1, -1].item() == pytest.approx(-kx)
    assert b[0, 0, 1, 0].item() == pytest.approx(kx)
    assert b[0, 0, 1, 2].item() == pytest.approx(0.0, abs=1e-15)
    assert b[0, 1, -1, 2].item() == pytest.approx(-kx * mesh.dx / mesh.dy)
    assert b[0, 2, 0, 0].item() == pytest.approx(2 * q)  # corner: one x and one y surface


def test_anisotropy_and_sot_fields():
    m = torch.tensor([0.6, 0.0, 0.8], dtype=torch.float64).view(1, 3, 1, 1)
    b = anisotropy_field(m, 8e5, MS)
    assert b[0, 2].item() == pytest.approx(2 * 8e5 / MS * 0.8)
    assert b[0, 0].item() == 0.0
    a = sot.damping_like_coefficient(3.5e11, 0.07, MS, 1e-9)
    assert a == pytest.approx(1.054571817e-34 * 0.07 * 3.5e11 / (2 * 1.602176634e-19 * MS * 1e-9))
    mask = torch.ones(1, 1, 1, 1, dtype=torch.float64)
    f = sot.sot_field(m, mask, torch.tensor(a, dtype=torch.float64), torch.tensor(0.002, dtype=torch.float64))
    sigma = torch.tensor(sot.SIGMA, dtype=torch.float64)
    expect = a * torch.linalg.cross(m[0, :, 0, 0], sigma) + 0.002 * sigma
    assert torch.allclose(f[0, :, 0, 0], expect)
    with pytest.raises(ValueError, match="thickness must be > 0"):
        sot.damping_like_coefficient(1e11, 0.1, MS, 0.0)


def test_bad_inputs_have_clear_errors(monkeypatch):
    with pytest.raises(ValueError, match="no magnetic cell"):
        Mesh(np.zeros((2, 3), bool), 1e-9, 1e-9, 1e-9, torch.device("cpu"), torch.float64)
    with pytest.raises(ValueError, match="mask must be 2-D"):
        Mesh(np.ones(3, bool), 1e-9, 1e-9, 1e-9, torch.device("cpu"), torch.float64)
    with pytest.raises(ValueError, match="cell size dx must be > 0"):
        Mesh(np.ones((2, 2), bool), 0.0, 1e-9, 1e-9, torch.device("cpu"), torch.float64)
    with pytest.raises(ValueError, match="Ms must be > 0"):
        Material(ms=0.0, aex=1e-11, alpha=0.1)
    with pytest.raises(ValueError, match="alpha must be > 0"):
        Material(ms=1e5, aex=1e-11, alpha=0.0)
    with pytest.raises(ValueError, match="needs Aex > 0"):
        Material(ms=1e5, aex=0.0, alpha=0.1, dind=1e-3)
    with pytest.raises(ValueError, match="unknown dtype 'float16'"):
        resolve_dtype("float16")
    with pytest.raises(ValueError, match="unknown torch device 'tpu'"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="no CUDA device"):
            resolve_device("cuda")
        assert resolve_device("auto") == torch.device("cpu")
    monkeypatch.setenv("DWSYNAPSE_TORCH_COMPILE", "0")
    assert compile_requested(True) is False
    monkeypatch.setenv("DWSYNAPSE_TORCH_COMPILE", "1")
    assert compile_requested(False) is True
    monkeypatch.delenv("DWSYNAPSE_TORCH_COMPILE")
    assert compile_requested(True) is True


def test_heun_stability_check_for_the_exchange_mode():
    from dwsynapse.engines.torchfd.racetrack import exchange_mode_growth

    mat = Material(MS, AEX, 0.3, D, 8e5)
    assert exchange_mode_growth(mat, strip(2, 2, 2e-9), 1e-13) < 1  # the paper's 2 nm mesh
    assert exchange_mode_growth(mat, strip(2, 2, 1e-9), 1e-13) > 1  # 1 nm needs a smaller step
    assert exchange_mode_growth(mat, strip(2, 2, 1e-9), 2e-14) < 1


@pytest.mark.slow
def test_compiled_step_matches_eager():
    from dwsynapse.engines.torchfd.solver import LLGSystem, Stepper
    from dwsynapse.engines.torchfd.thermal import ThermalNoise

    mesh = strip(6, 20, 4e-9, dtype=torch.float32)
    system = LLGSystem(mesh, Material(MS, AEX, 0.3, D, 7.5e5), demag="newell")
    eager, compiled = Stepper(system, compile=False), Stepper(system, compile=True)
    m0 = torch.zeros(3, 3, 6, 20)
    m0[:, 2] = 1
    m0[..., 10:] *= -1
    args = (torch.tensor(0.01), torch.tensor(0.0), torch.tensor(1e-13))
    n1, n2 = ThermalNoise([1, 2, 3], mesh, 0.05), ThermalNoise([1, 2, 3], mesh, 0.05)
    a, b = m0, m0
    for _ in range(20):
        a = eager(a, n1.next(), *args)
        b = compiled(b, n2.next(), *args)
    assert compiled.compiled
    torch.testing.assert_close(a, b, rtol=0, atol=2e-4)
