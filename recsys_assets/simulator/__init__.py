"""Seeded e-commerce search and recommendation log simulator.

``simulate(SimulatorConfig(...), out)`` writes a window of request, impression, candidate,
event, item, user and outage logs in the project's input contract (Parquet, one file per
day), with realistic dirt, plus ground-truth tables and a manifest counting every piece of
injected dirt under ``out/truth``.
"""

from .config import SimulatorConfig
from .simulation import SimulationSummary, simulate

__all__ = ["SimulationSummary", "SimulatorConfig", "simulate"]
