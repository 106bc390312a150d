"""Physical constants in SI units, shared by the device physics (:mod:`dwsynapse.calibration`,
:mod:`dwsynapse.engines.torchfd`) and the energy model (:mod:`dwsynapse.energy`)."""

from __future__ import annotations

import math

MU0 = 4e-7 * math.pi  # vacuum permeability [T m / A] (the value mumax3 uses)
GAMMA_LL = 1.7595e11  # gyromagnetic ratio [rad / (s T)] (mumax3's GammaLL)
KB = 1.380649e-23  # Boltzmann constant [J / K]
HBAR = 1.054571817e-34  # reduced Planck constant [J s]
QE = 1.602176634e-19  # elementary charge [C]
EPSILON_0 = 8.8541878128e-12  # vacuum permittivity [F / m] (CODATA 2018)
