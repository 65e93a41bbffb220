"""Digital logic at a technology node, and the digital baselines (GPUs, an int8 systolic array).

Per-op energies are Horowitz, "Computing's energy problem", ISSCC 2014 (45 nm, 0.9 V), scaled to
another node to first order as dynamic energy C*V^2: ``(node/45 nm) * (Vdd(node)/0.9 V)^2``,
with the nominal core supply of each node below. The number of arithmetic ops per output
element of each digital op kind is an analytic count written out in :data:`OPS_PER_ELEMENT`.

Example::

    >>> from hw_models.digital import DigitalLogic
    >>> d = DigitalLogic(node_m=45e-9)
    >>> round(d.op_energy_j("int32", "add") * 1e12, 3)
    0.1
    >>> DigitalLogic(node_m=14e-9).op_energy_j("int32", "add") < 0.1e-12
    True
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hw_models.circuits import VDD_BY_NODE_NM, nominal_vdd  # noqa: F401 (re-exported)
from hw_models.units import landauer_j

#: Horowitz ISSCC 2014, 45 nm, 0.9 V: energy per operation (J)
HOROWITZ_45NM_J = {
    ("int8", "add"): 0.03e-12, ("int8", "mult"): 0.2e-12,
    ("int32", "add"): 0.1e-12, ("int32", "mult"): 3.1e-12,
    ("fp16", "add"): 0.4e-12, ("fp16", "mult"): 1.1e-12,
    ("fp32", "add"): 0.9e-12, ("fp32", "mult"): 3.7e-12,
}
HOROWITZ_SOURCE = "Horowitz ISSCC 2014 (45 nm, 0.9 V)"
_BITS = {"int8": 8, "int32": 32, "fp16": 16, "fp32": 32}


#: arithmetic ops per output element (analytic counts, nanoGPT-style): softmax = max, subtract,
#: exp (~6-op polynomial), sum, divide (~2); layer/RMS norm = mean, subtract, square, sum, rsqrt,
#: scale, shift, plus ~1; GELU (tanh form) ~8; residual add 1; reductions 1 per input element.
OPS_PER_ELEMENT = {"softmax": 10, "norm": 8, "activation": 8, "elementwise": 1, "reduction": 1,
                   "embedding": 0, "data_movement": 0, "other": 1}
_CHEAP_ACTIVATIONS = ("relu", "clamp", "hardtanh", "threshold")


def node_energy_scale(node_m: float, vdd: float | None = None) -> float:
    """C*V^2 scale factor from 45 nm / 0.9 V to ``node_m`` at supply ``vdd`` (default: the
    node's nominal supply, :data:`hw_models.circuits.VDD_BY_NODE_NM`)."""
    v = nominal_vdd(node_m) if vdd is None else vdd
    return (node_m * 1e9 / 45.0) * (v / 0.9) ** 2


@dataclass(frozen=True)
class DigitalLogic:
    """Energy of digital ops at a node (``node_m`` in metres)."""

    node_m: float = 45e-9
    vdd: float | None = None  # supply (V); None: the node's nominal supply

    @property
    def scale(self) -> float:
        return node_energy_scale(self.node_m, self.vdd)

    def op_energy_j(self, precision: str, op: str) -> float:
        """One add or mult at ``precision``; never below k*T*ln2 per result bit."""
        e = HOROWITZ_45NM_J[(precision, op)] * self.scale
        return max(e, landauer_j() * _BITS[precision])

    def flop_energy_j(self, precision: str = "fp16") -> float:
        """Average of an add and a mult (a MAC is two of these)."""
        return 0.5 * (self.op_energy_j(precision, "add") + self.op_energy_j(precision, "mult"))

    def mac_energy_j(self, precision: str = "fp16") -> float:
        acc = {"int8": "int32", "fp16": "fp32"}.get(precision, precision)
        return self.op_energy_j(precision, "mult") + self.op_energy_j(acc, "add")


def ops_per_element(kind: str, target: str = "") -> float:
    """Arithmetic ops per output element of a digital op (see :data:`OPS_PER_ELEMENT`)."""
    if kind == "activation" and any(t in (target or "").lower() for t in _CHEAP_ACTIVATIONS):
        return 1.0
    return float(OPS_PER_ELEMENT.get(kind, 1))


class Baseline:
    """A digital baseline priced from its preset's ``[baseline]`` table.

    Time is ``max(flops / (peak * achieved), bytes / (bandwidth * fraction))``, so a decode step
    that streams all weights is memory-bound. A GPU spends ``board power * time``, the board
    power depending on what bounds the workload (:meth:`board_power_w`): its TDP (``power``)
    when compute-bound, and when memory-bound ``memory_bound_power`` (the measured power of
    streaming weights with little arithmetic) plus ``(power - memory_bound_power)`` times the
    share of the time the arithmetic units are busy. Without ``memory_bound_power`` the board
    draws ``power`` throughout. Its FLOPs cost at least ``power / peak`` each. A bottom-up
    accelerator (``mac_energy``) spends MACs x MAC energy plus DRAM traffic.

    Example::

        >>> import hw_models
        >>> h = hw_models.baseline("h100")
        >>> h.energy_per_flop_j >= 700 / 989e12
        True
    """

    def __init__(self, params: dict[str, Any]) -> None:
        self.params = params
        self.name = params["hardware"]["name"]
        self.description = params["hardware"].get("description", "")
        b = params["baseline"]
        si = lambda k, d=None: b[k].si if k in b else d  # noqa: E731
        self.peak_flops = si("peak_flops")
        self.power_w = si("power")
        self.mac_energy_j = si("mac_energy")
        self.achieved_fraction = si("achieved_fraction", 1.0)
        self.bandwidth_bps = si("memory_bandwidth") * si("bandwidth_fraction", 1.0)
        self.memory_energy_per_byte_j = 8 * si("memory_energy_per_bit", 0.0)
        self.area_m2 = si("area", 0.0)
        #: bytes each weight occupies in the baseline's memory (fp16/bf16: 2)
        self.bytes_per_param = si("weight_bytes", 2.0)
        #: board power (W) while streaming from memory with little arithmetic (None: TDP always)
        self.memory_bound_power_w = si("memory_bound_power")
        if self.peak_flops is None or (self.power_w is None and self.mac_energy_j is None):
            raise ValueError(f"{params.get('_file')}: [baseline] needs peak_flops and power or mac_energy")
        if self.memory_bound_power_w is not None and not (
                self.power_w is not None and self.memory_bound_power_w > 0):
            raise ValueError(f"{params.get('_file')}: [baseline] memory_bound_power: expected a power "
                             f"above 0 alongside power (the TDP), got {self.memory_bound_power_w} W "
                             f"with power {self.power_w}")

    @property
    def energy_per_flop_j(self) -> float:
        """Energy of one FLOP (half a MAC) at the achieved throughput of a compute-bound
        workload (a GPU then draws its TDP)."""
        if self.power_w is not None:
            return self.power_w / (self.peak_flops * self.achieved_fraction)
        return self.mac_energy_j / 2

    def board_power_w(self, t_compute: float, t_memory: float) -> float:
        """Board power (W) of a GPU running a workload whose arithmetic alone would take
        ``t_compute`` and whose memory traffic alone would take ``t_memory`` seconds.

        With ``rho_c = t_compute / t`` and ``rho_m = t_memory / t`` (``t`` the larger, so one of
        them is 1): ``P = P_mem * rho_m + (TDP - P_mem * rho_m) * rho_c``, i.e. the TDP when
        compute-bound (``rho_c = 1``: compute-bound kernels run at the power limit) and, when
        memory-bound, ``P_mem + (TDP - P_mem) * rho_c``: linear in the share of the time the
        arithmetic units are busy between the streaming power ``P_mem`` (``memory_bound_power``)
        and the TDP. A modelling choice (docs/validation-gpu.md): the measured curve rises
        faster than linear at mid utilization. ``P_mem`` above the TDP (a ``power`` override
        that caps the board) is held at the TDP, as the power limiter does. 0 for a bottom-up
        accelerator (no board power).
        """
        if self.power_w is None:
            return 0.0
        t = max(t_compute, t_memory)
        if self.memory_bound_power_w is None or t <= 0:
            return self.power_w
        rho_c, rho_m = t_compute / t, t_memory / t
        p_mem = min(self.memory_bound_power_w, self.power_w) * rho_m
        return p_mem + (self.power_w - p_mem) * rho_c

    def cost(self, flops: float, bytes_moved: float) -> dict[str, float]:
        """``time_s``, ``power_w`` (GPU board power, :meth:`board_power_w`) and energy by
        component (``digital``, ``memory``, ``static``) of a workload."""
        t_compute = flops / (self.peak_flops * self.achieved_fraction)
        t_memory = bytes_moved / self.bandwidth_bps if self.bandwidth_bps else 0.0
        t = max(t_compute, t_memory)
        memory = bytes_moved * self.memory_energy_per_byte_j
        power = self.board_power_w(t_compute, t_memory)
        if self.power_w is not None:
            digital = flops * self.power_w / self.peak_flops  # the floor: TDP / peak per FLOP
            total = max(power * t, digital + memory)
            static = total - digital - memory
        else:
            digital, static = flops * self.mac_energy_j / 2, 0.0
        return {"time_s": t, "compute_bound": t_compute >= t_memory, "power_w": power,
                "digital": digital, "memory": memory, "static": static}
