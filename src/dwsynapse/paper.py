"""Numbers reported in the reference paper (IEEE Access vol. 10, 2022), each defined once.

:data:`PAPER_TARGETS` are the paper's per-Ku device weights (the calibration's targets, the
synthetic statistics of tests and benchmarks, and rows of the paper-vs-reproduction table);
:data:`PAPER` is every headline number of the paper with the section it comes from
(:mod:`dwsynapse.reproduction` puts ours next to them). Standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The paper's <m_z> per programming anisotropy Ku [J/m^3], highest Ku (level -1) first: level -1's
#: wall stays in its start notch at -0.833 (Fig. 7), the other levels are the quantized values
#: -0.5, 0, 0.5, 1 of the 5-state device (Fig. 1d, section III).
PAPER_TARGETS: dict[float, float] = {8.0e5: -0.833, 7.75e5: -0.5, 7.5e5: 0.0, 7.25e5: 0.5, 7.0e5: 1.0}


def target_for(ku: float) -> float | None:
    """The paper's target <m_z> for ``ku`` [J/m^3], or None when ``ku`` is not one of the five."""
    for k, v in PAPER_TARGETS.items():
        if abs(k - ku) <= 1e-6 * k:
            return v
    return None


@dataclass(frozen=True)
class PaperValue:
    """One number reported in the reference paper."""

    key: str
    quantity: str
    value: float
    unit: str
    where: str  # section / figure of the paper


PAPER: tuple[PaperValue, ...] = (
    PaperValue("baseline_test", "float baseline test accuracy (10 epochs)", 97.1, "%", "§IV-B, Fig. 3c"),
    PaperValue("baseline_train", "float baseline training accuracy", 99.6, "%", "§IV-B, Fig. 3a"),
    PaperValue("insitu_5_0.15", "in-situ 5-state α=0.15 test accuracy", 96.67, "%", "§IV-B, Fig. 3c"),
    PaperValue("insitu_3_0.15", "in-situ 3-state α=0.15 test accuracy", 96.6, "%", "§IV-B, Fig. 3c"),
    PaperValue("insitu_2_0.15", "in-situ 2-state α=0.15 test accuracy", 95.14, "%", "§IV-B, Fig. 3c"),
    PaperValue("insitu_5_0.25", "in-situ 5-state α=0.25 test accuracy", 96.56, "%", "§IV-B, Fig. 3d"),
    PaperValue("insitu_3_0.25", "in-situ 3-state α=0.25 test accuracy", 96.36, "%", "§IV-B, Fig. 3d"),
    PaperValue("insitu_2_0.25", "in-situ 2-state α=0.25 test accuracy", 94.64, "%", "§IV-B, Fig. 3d"),
    PaperValue("writes_5_0.25", "in-situ 5-state α=0.25 device writes over training", 48e6, "pulses", "§IV-D1, Fig. 4"),
    PaperValue("exsitu_float_5_0.15", "ex-situ float→5-state α=0.15 hardware test accuracy", 87.0, "%", "§IV-C, Fig. 6a"),
    PaperValue("exsitu_float_3_0.15", "ex-situ float→3-state α=0.15 hardware test accuracy", 10.0, "%", "§IV-C, Fig. 6a"),
    PaperValue("exsitu_quantized_5_0.15", "ex-situ quantized 5-state α=0.15 hardware test accuracy", 90.0, "%",
               "§IV-C, Fig. 6a"),
    PaperValue("exsitu_quantized_5_0.15_sw", "ex-situ quantized 5-state software test accuracy", 96.74, "%",
               "§IV-C, Fig. 6a"),
    PaperValue("exsitu_stochastic_5_0.15", "ex-situ quantized+stochastic 5-state α=0.15 hardware test accuracy", 96.63,
               "%", "§IV-C, Fig. 6a"),
    PaperValue("exsitu_stochastic_5_0.15_sw", "ex-situ quantized+stochastic 5-state software test accuracy", 96.67, "%",
               "§IV-C, Fig. 6a"),
    *(PaperValue(f"mz_{ku / 1e5:.2f}", f"mean <mz>, Ku = {ku / 1e5:.2f}e5 J/m³", mz, "", "§IV-D2, Fig. 7")
      for ku, mz in PAPER_TARGETS.items()),
    PaperValue("p_min_0.15", "lowest per-level probability within α=0.15 (paper: level +1)", 6.0, "%",
               "§IV-D2, Fig. 7"),
    PaperValue("worst_attempts_0.15", "worst-case pulses per device, α=0.15", 20.0, "pulses", "§IV-D2"),
    PaperValue("capacitance", "PZT electrode capacitance", 16e-15, "F", "§IV-D"),
    PaperValue("e_cap", "½CV² energy per write (two electrodes)", 0.5e-15, "J", "§IV-D"),
    PaperValue("resistance", "Pt heavy-metal resistance", 200.0, "ohm", "§IV-D"),
    PaperValue("e_joule", "I²Rt energy per write", 2.2e-15, "J", "§IV-D"),
    PaperValue("e_write", "energy per write", 2.7e-15, "J", "§IV-D"),
    PaperValue("prog_insitu", "in-situ programming energy per inference (5-state, α=0.25)", 13e-12, "J", "§IV-D1"),
    PaperValue("prog_exsitu_worst", "ex-situ worst-case programming energy per inference", 2.8e-12, "J", "§IV-D2"),
    PaperValue("system_dw", "system energy per inference (DW)", 26e-9, "J", "§IV-D2, suppl. S5"),
    PaperValue("system_ratio", "energy saving vs 32-bit SRAM CMOS", 165.0, "x", "§IV-D2, suppl. S5"),
)

#: Keys of :data:`PAPER` on the report's first page: the numbers a reader holds the paper against first. A
#: short table, because the report's first page centres its text beside the rule graph and a long one pushes
#: the page's top out of the window; the "Paper vs reproduction" section has every number.
HEADLINE: tuple[str, ...] = ("baseline_test", "insitu_5_0.15", "insitu_3_0.15", "insitu_2_0.15",
                             "exsitu_stochastic_5_0.15", "p_min_0.15", "e_write")
