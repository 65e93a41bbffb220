"""The digital baselines a :class:`~analogc.estimate.report.Report` compares against: the
same graph's energy, latency and throughput on a GPU (``a100``, ``h100``) or a digital int8
accelerator (``digital-int8``), priced by ``hw_models``.

Example::

    >>> import analogc
    >>> b = baseline_estimate(analogc.trace("mlp"), "h100")
    >>> b["energy_j"] > 0 and b["latency_s"] > 0
    True
"""
from __future__ import annotations

import math
from typing import Any

from analogc.estimate.decoder import graph_meta, is_decoder, kv_cache_bytes

#: the baselines that reports and their renderings compare against by default
DEFAULT_BASELINES = ("a100", "h100", "digital-int8")


def baseline_estimate(graph: Any, name: str) -> dict[str, Any]:
    """Energy, latency and throughput of ``graph`` on a digital baseline.

    FLOPs: 2 per MAC of every mvm/matmul plus the digital ops' arithmetic. Bytes: every weight
    read once per inference (``weight_bytes`` per parameter), embeddings, and for decoders the
    K/V cache (written in prefill, read per decode step). Activations are assumed to stay on
    chip (fused kernels) — optimistic for the baseline. ``power_w`` (and ``decode_power_w``) is
    the GPU board power the baseline charges over the latency (utilization-dependent,
    :meth:`hw_models.digital.Baseline.board_power_w`; 0 for a bottom-up accelerator).
    """
    import hw_models
    from hw_models.digital import ops_per_element

    from analogc.ir import OpKind

    b = hw_models.baseline(name)
    per_param = b.bytes_per_param
    macs = flops_digital = 0.0
    params = emb_bytes = 0.0
    for op in graph.ops():
        if op.kind in (OpKind.MVM, OpKind.MATMUL):
            macs += op.macs
            params += op.weight_params
        else:
            flops_digital += op.elements * ops_per_element(op.kind.value, op.target)
            if op.kind is OpKind.EMBEDDING:
                emb_bytes += op.elements * per_param
    flops = 2 * macs + flops_digital
    meta = graph_meta(graph)
    kv = kv_cache_bytes(meta, bytes_per_value=int(per_param))
    c = b.cost(flops, params * per_param + emb_bytes + kv)
    e = c["digital"] + c["memory"] + c["static"]
    out = {"energy_j": e, "latency_s": c["time_s"],
           "throughput_inf_per_s": 1 / c["time_s"] if c["time_s"] else math.inf,
           "tops_per_w": 2 * macs / e / 1e12 if e else math.inf,
           "compute_bound": c["compute_bound"], "energy_per_flop_j": b.energy_per_flop_j,
           "power_w": c["power_w"],
           "breakdown_j": {k: c[k] for k in ("digital", "memory", "static")}}
    if is_decoder(meta):
        T, B = int(meta["seq_len"]), int(meta.get("batch", 1))
        d = b.cost(flops / T, params * per_param + emb_bytes / T + kv)
        de = d["digital"] + d["memory"] + d["static"]
        out.update(decode_energy_per_token_j=de / B, decode_latency_per_token_s=d["time_s"],
                   decode_compute_bound=d["compute_bound"], decode_power_w=d["power_w"])
    return out
