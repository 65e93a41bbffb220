"""Memories: on-chip SRAM by node and bank size, off-chip DRAM and HBM per bit.

SRAM energy per 64-bit access at 45 nm (Horowitz ISSCC 2014): 8 kB 10 pJ, 32 kB 20 pJ,
1 MB 100 pJ; interpolated log-log in array size and scaled to the node as C*V^2
(:func:`hw_models.digital.node_energy_scale`). A large buffer is banked: an access costs the
energy of one bank, 32 kB unless the preset says otherwise (the banking used by
Lightening-Transformer's memory model, Zhu et al. HPCA 2024, after CACTI).

Example::

    >>> from hw_models.memory import sram_energy_per_byte_j
    >>> round(sram_energy_per_byte_j(32e3, 45e-9) * 1e12, 2)
    2.5
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from hw_models.digital import node_energy_scale

#: (array bytes, pJ per 64-bit read) at 45 nm, Horowitz ISSCC 2014
HOROWITZ_SRAM_45NM = ((8e3, 10.0), (32e3, 20.0), (1e6, 100.0))
DEFAULT_BANK_BYTES = 32e3


def sram_energy_per_byte_j(array_bytes: float, node_m: float = 45e-9) -> float:
    """Energy to read (or write) one byte from an SRAM array of ``array_bytes``."""
    pts = HOROWITZ_SRAM_45NM
    s = max(array_bytes, 1.0)
    if s <= pts[0][0]:
        (x0, y0), (x1, y1) = pts[0], pts[1]
    elif s >= pts[-1][0]:
        (x0, y0), (x1, y1) = pts[-2], pts[-1]
    else:
        i = next(i for i in range(len(pts) - 1) if pts[i + 1][0] >= s)
        (x0, y0), (x1, y1) = pts[i], pts[i + 1]
    slope = math.log(y1 / y0) / math.log(x1 / x0)
    pj64 = y0 * (s / x0) ** slope
    return pj64 * 1e-12 / 8 * node_energy_scale(node_m)


@dataclass(frozen=True)
class MemoryHierarchy:
    """The buffer (SRAM) and the off-chip level (DRAM or HBM) of a preset's ``[memory]`` table."""

    buffer_bytes: float
    sram_j_per_byte: float
    offchip: str
    offchip_j_per_byte: float
    offchip_bandwidth_bps: float

    @classmethod
    def from_params(cls, params: dict[str, Any], node_m: float) -> "MemoryHierarchy":
        m = params.get("memory", {})

        def q(key: str) -> float:
            if key not in m:
                from hw_models.config import HardwareConfigError
                raise HardwareConfigError(f"{params.get('_file')}: [memory] {key}: expected this "
                                          f"constant (value, unit, source), got nothing")
            return m[key].si

        buf = q("buffer_size")
        bank = min(buf, DEFAULT_BANK_BYTES)
        off = m.get("offchip", "dram")
        per_bit = q("hbm_energy_per_bit" if off == "hbm" else "dram_energy_per_bit")
        return cls(buffer_bytes=buf, sram_j_per_byte=sram_energy_per_byte_j(bank, node_m),
                   offchip=off, offchip_j_per_byte=8 * per_bit,
                   offchip_bandwidth_bps=q("offchip_bandwidth"))
