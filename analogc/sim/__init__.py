"""Simulation: run a Plan as a torch model with the hardware's non-idealities.

``deploy`` builds the analog model, ``calibrate`` sets its ranges, ``monte_carlo`` /
``evaluate`` report mean ± std over chip instances and drift times, ``tradeoff`` links energy
and accuracy.
"""
from analogc.sim.calibrate import calibrate, run_batch
from analogc.sim.deploy import AnalogMatmul, analog_layers, deploy, reseed, set_drift_time
from analogc.sim.evaluate import DRIFT_TIMES_S, accuracy, monte_carlo, output_fidelity, tradeoff
from analogc.sim.tile import AnalogMVM, NoisePool

__all__ = ["AnalogMVM", "AnalogMatmul", "DRIFT_TIMES_S", "NoisePool", "accuracy", "analog_layers", "calibrate",
           "deploy", "monte_carlo", "output_fidelity", "reseed", "run_batch", "set_drift_time", "tradeoff"]
