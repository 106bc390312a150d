"""dwsynapse: from micromagnetics to accuracy for stochastic domain-wall racetrack synapses."""

__version__ = "0.1.0"
