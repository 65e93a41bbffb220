"""The GPU baselines against published, *measured* LLM-serving energy per output token
(issue 10, the GPU baseline; docs/validation-gpu.md has the table and the discussion).

Measured data (not simulations, not TDP-based estimates):

- ML.ENERGY Leaderboard v3.0 (Chung, Wu, Ma, Chowdhury, "Where Do the Joules Go? Diagnosing
  Inference Energy Consumption", arXiv 2601.22076, 2026; method: Chung et al., "The ML.ENERGY
  Benchmark", arXiv 2505.06371, NeurIPS 2025 D&B). vLLM, BF16 weights, NVIDIA H100 80GB HBM3
  (SXM, 700 W), task lm-arena-chat (Chatbot Arena prompts), steady-state GPU energy measured
  with Zeus (NVML energy counters), per output token. Values copied from the data files
  ``public/data/models/meta-llama__Llama-3.1-{8B,70B}-Instruct__lm-arena-chat.json`` of
  github.com/ml-energy/leaderboard at commit 0cd52da (2026-02-27): average batch, output
  length, average power, energy per token, median inter-token latency (ITL).
- ML.ENERGY Leaderboard v1 (2023), ``data/A100_chat_benchmark.csv`` of the same repository
  (commit 4717739): Llama-2-7b-chat, A100 (form factor not stated), PyTorch 2.0.1 + FastChat,
  FP16, batch 1, ShareGPT prompts: energy and latency per response, response length. The
  leaderboard itself warns that batch-1 bare PyTorch is not a production setting.

Each point is priced as analogc prices any decoder: the zoo model of the same architecture
(Llama 3.1 8B/70B have Llama 3 8B/70B's shapes; llama-2-7b as is) traced at the published
batch and a context of T tokens, then ``baseline_estimate(...)["decode_energy_per_token_j"]``
on the preset. Four tensor-parallel H100s are one device of 4x the peak, bandwidth, TDP and
streaming power (NVLink all-reduce traffic is not charged). T = the published mean output
length: the prompt lengths are not in the data files, so the mean decode context (prompt +
half the output) is taken as the output length, i.e. prompts about half as long as the
answers ("a sentence or two" in the task description). The measured energy also includes the
prefill of the prompts; the model's decode-only figure does not (prompt lengths unknown).

What is asserted (tolerances stated per test): the utilization-dependent board power the
model charges against the measured average power (+-20% on H100), and the energy per token
against the measured one, where the model misses low (the GPU roofline time is shorter than
vLLM's measured inter-token latency); the test pins that miss and its direction rather than
hiding it. The H100's streaming power (427 W) comes from a configuration that is *not* one of
these points (Qwen3-8B, batch 8; h100.toml).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import pytest

import analogc
from analogc.estimate import baseline_estimate
from hw_models.config import PRESET_DIR


@dataclass(frozen=True)
class Measured:
    label: str
    zoo: str            # analogc zoo model of the same architecture
    preset: str         # baseline preset of the GPU
    gpus: int           # tensor-parallel GPUs (priced as one device of gpus x the resources)
    batch: int          # published average batch, rounded
    context: int        # T: decode context priced (published mean output length, rounded)
    power_w: float      # measured average GPU power (all GPUs)
    j_per_token: float  # measured energy per output token
    itl_ms: float       # measured median inter-token latency (v1: latency / response length)
    tokens_per_s: float  # measured output throughput (energy per token = power / this)

    @property
    def step_ms(self) -> float:
        """Measured time per decode step of the whole batch: batch / throughput."""
        return 1e3 * self.batch / self.tokens_per_s


#: ML.ENERGY v3.0 (H100, vLLM) and v1 (A100, batch-1 PyTorch); see the module docstring
MEASURED = [
    Measured("Llama-3.1-8B, 1xH100, batch 8", "llama-3-8b", "h100", 1, 8, 389, 486.4, 0.4548, 7.32, 1070),
    Measured("Llama-3.1-8B, 1xH100, batch 64", "llama-3-8b", "h100", 1, 64, 396, 610.3, 0.1186, 11.50, 5147),
    Measured("Llama-3.1-8B, 1xH100, batch 255", "llama-3-8b", "h100", 1, 255, 404, 690.5, 0.0766, 26.13, 9010),
    Measured("Llama-3.1-70B, 4xH100 TP4, batch 8", "llama-3-70b", "h100", 4, 8, 350, 1765.4, 3.7587, 16.57, 470),
    Measured("Llama-3.1-70B, 4xH100 TP4, batch 64", "llama-3-70b", "h100", 4, 64, 352, 2001.5, 0.7972, 22.43,
             2511),
    Measured("Llama-3.1-70B, 4xH100 TP4, batch 255", "llama-3-70b", "h100", 4, 255, 349, 2354.3, 0.4790, 39.84,
             4915),
    # v1: energy 1828.77 J and latency 9.442 s per response of 420.07 tokens (44.47 tokens/s)
    Measured("Llama-2-7B, 1xA100, batch 1 (PyTorch)", "llama-2-7b", "a100", 1, 1, 420,
             1828.77 / 9.442, 1828.77 / 420.07, 9442 / 420.07, 44.47),
]
H100 = [m for m in MEASURED if m.preset == "h100"]

_SCALED = ("peak_flops", "power", "memory_bound_power", "memory_bandwidth")


def preset_file(tmp_dir, preset: str, gpus: int = 1, tdp_always: bool = False) -> str:
    """The shipped preset as a file, its peak, bandwidth, TDP and streaming power x ``gpus``;
    with ``tdp_always`` the streaming power set to the TDP (the model before issue 10)."""
    text = (PRESET_DIR / f"{preset}.toml").read_text()
    values = {k: float(re.search(rf"(?m)^{k} = {{value = ([0-9.]+)", text).group(1)) for k in _SCALED}
    if tdp_always:
        values["memory_bound_power"] = values["power"]
    for k in _SCALED:
        text = re.sub(rf"(?m)^{k} = {{value = [0-9.]+", f"{k} = {{value = {values[k] * gpus}", text)
    name = f"{preset}-x{gpus}{'-tdp' if tdp_always else ''}"
    text = re.sub(r'(?m)^name = ".*"', f'name = "{name}"', text)
    path = tmp_dir / f"{name}.toml"
    path.write_text(text)
    return str(path)


@dataclass(frozen=True)
class Priced:
    power_w: float
    j_per_token: float
    step_ms: float
    tdp_j_per_token: float  # the same with the board at its TDP throughout (before issue 10)


def price_all(tmp) -> dict[str, Priced]:
    """Every measured point priced by the model (and by the TDP-always model)."""
    out = {}
    for m in MEASURED:
        g = analogc.trace(m.zoo, seq_len=m.context, batch=m.batch)
        new = baseline_estimate(g, preset_file(tmp, m.preset, m.gpus))
        old = baseline_estimate(g, preset_file(tmp, m.preset, m.gpus, tdp_always=True))
        out[m.label] = Priced(new["decode_power_w"], new["decode_energy_per_token_j"],
                              new["decode_latency_per_token_s"] * 1e3, old["decode_energy_per_token_j"])
    return out


@pytest.fixture(scope="module")
def priced(tmp_path_factory) -> dict[str, Priced]:
    return price_all(tmp_path_factory.mktemp("gpu"))


def test_preset_file_scales_the_device(tmp_path):
    import hw_models
    one, four = hw_models.baseline("h100"), hw_models.baseline(preset_file(tmp_path, "h100", 4))
    assert (four.peak_flops, four.power_w, four.memory_bound_power_w, four.bandwidth_bps) == pytest.approx(
        (4 * one.peak_flops, 4 * one.power_w, 4 * one.memory_bound_power_w, 4 * one.bandwidth_bps))
    assert hw_models.baseline(preset_file(tmp_path, "h100", tdp_always=True)).memory_bound_power_w == 700.0


@pytest.mark.parametrize("m", H100, ids=lambda m: m.label)
def test_h100_board_power_within_20_percent_of_measured(priced, m):
    """The power charged during decode against the measured average GPU power: within +-20%
    at every batch (TDP at every moment was +44% at batch 8 for the 8B model)."""
    p = priced[m.label]
    assert p.power_w / m.power_w == pytest.approx(1.0, abs=0.20), (p.power_w, m.power_w)


@pytest.mark.parametrize("m", H100, ids=lambda m: m.label)
def test_h100_energy_per_token_misses_low_by_the_roofline_time(priced, m):
    """Energy per output token: the model is below the measurement at every point, by 1.3x
    to 3x (asserted band: 1/3.2 < model/measured < 1). The miss is in the time, not the
    power: the roofline step (weights and K/V streamed at 80% of peak bandwidth, arithmetic at
    40% of peak) is shorter than vLLM's measured median inter-token latency, more so as the
    batch grows (prefill of arriving prompts, attention kernels, scheduling between steps)."""
    p = priced[m.label]
    ratio = p.j_per_token / m.j_per_token
    assert 1 / 3.2 < ratio < 1.0, ratio
    assert p.step_ms < m.itl_ms  # the time the model charges is the optimistic factor
    # energy = power x time / batch on both sides: the miss is the power ratio times the time
    # ratio (measured time per step = batch / throughput; the model's prefill is left out)
    assert ratio == pytest.approx((p.power_w / m.power_w) * (p.step_ms / m.step_ms), rel=0.02)
    assert p.step_ms / m.step_ms < 0.85


def test_h100_misses_grow_with_batch(priced):
    """The time model's optimism grows with the batch (8 -> 64 -> 255) for both models."""
    for model in ("Llama-3.1-8B, 1xH100", "Llama-3.1-70B, 4xH100 TP4"):
        rows = [m for m in H100 if m.label.startswith(model)]
        ratios = [priced[m.label].j_per_token / m.j_per_token for m in rows]
        assert ratios == sorted(ratios, reverse=True), ratios


def test_h100_power_rises_with_batch_like_the_measurement(priced):
    for model in ("Llama-3.1-8B, 1xH100", "Llama-3.1-70B, 4xH100 TP4"):
        rows = [m for m in H100 if m.label.startswith(model)]
        assert [m.power_w for m in rows] == sorted(m.power_w for m in rows)
        model_p = [priced[m.label].power_w for m in rows]
        assert model_p == sorted(model_p) and model_p[0] < model_p[-1]


def test_a100_batch1_pytorch_is_a_documented_miss(priced):
    """A100, batch-1 PyTorch (ML.ENERGY v1): measured 194 W and 4.35 J/token. The GPU idles
    between eagerly launched kernels (22.5 ms per token against an 8.2 ms weight-streaming
    roofline), which the model has no term for: it charges more power (asserted 1.0-1.5x the
    measurement) over a much shorter time, and lands below the measured energy (0.3-0.8x).
    The A100's streaming power is itself unverified (a100.toml)."""
    m = MEASURED[-1]
    p = priced[m.label]
    assert 1.0 < p.power_w / m.power_w < 1.5
    assert 0.3 < p.j_per_token / m.j_per_token < 0.8
    assert p.step_ms < m.itl_ms / 2


def test_tdp_model_differs_only_where_memory_bound(priced):
    """The old model (TDP throughout) charges more for every memory-bound decode step; the
    ratio is TDP / the new power exactly (same time)."""
    for m in MEASURED:
        p = priced[m.label]
        tdp = {"h100": 700.0, "a100": 400.0}[m.preset] * m.gpus
        assert p.tdp_j_per_token / p.j_per_token == pytest.approx(tdp / p.power_w, rel=1e-6)


def table() -> str:
    """The comparison as a markdown table (docs/validation-gpu.md); run this file as a script."""
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        rows = price_all(Path(d))
    lines = ["| point (published) | T | measured W | model W | measured ms/step (ITL) | model ms/step | "
             "measured J/token | model J/token (ratio) | TDP model J/token (ratio) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for m in MEASURED:
        p = rows[m.label]
        lines.append(f"| {m.label} | {m.context} | {m.power_w:.0f} | {p.power_w:.0f} | "
                     f"{m.step_ms:.1f} ({m.itl_ms:.1f}) | "
                     f"{p.step_ms:.1f} | {m.j_per_token:.3g} | {p.j_per_token:.3g} "
                     f"({p.j_per_token / m.j_per_token:.2f}) | {p.tdp_j_per_token:.3g} "
                     f"({p.tdp_j_per_token / m.j_per_token:.2f}) |")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    print(table())
