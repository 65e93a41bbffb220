"""Run the training methods side by side on one task and one hardware, and measure them.

``run_table(task, hw, out=DIR, quick=False, methods=None, seed=0)`` (``analogc.methods(...)``,
``analogc methods``) runs every registered method that trains the task's kind (or the named
ones) against the same kind of physical system (the hardware's plan of the method's model
with the hidden mismatches of :func:`analogc.finetune.physical.mismatched_system`), and
returns a pandas DataFrame with a row per method and model size; with ``out`` it writes
``DIR/methods.csv``, ``DIR/methods.md``, ``DIR/methods.json`` (the rows and each method's
accuracy curve) and ``DIR/methods.png``. The columns are described in :data:`COLUMNS`.

A method that ends no better than chance + :data:`MARGIN` is marked ``not converged within
its budget``; one that raises is marked ``error: ...``; neither stops the run.
"""
from __future__ import annotations

import math
import time
import traceback
import warnings
from pathlib import Path
from typing import Any, Iterable

import torch

from analogc.errors import AnalogcError

from analogc.methods.base import MARGIN
#: target accuracy of "wall-clock to target", per task (a modelling choice: a level most
#: methods reach on digits in the full budget; the recall task's reservoir reaches it in one solve)
TARGETS = {"digits": 0.8, "recall": 0.8}

#: the table's columns and what they mean
COLUMNS = {
    "method": "registry name",
    "title": "what it is",
    "knows": "what it needs to know about the hardware: twin / twin + noise model / activation derivative / nothing",
    "hidden": "hidden width of its model",
    "model_params": "parameters of its model",
    "trained_params": "parameters it trains",
    "accuracy": "final accuracy of the trained model on the physical (mismatched) chip, validation split",
    "status": "converged (accuracy >= chance + margin) / not converged within its budget / error",
    "steps": "training steps (updates; ELM: one solve)",
    "physical_passes": "physical forward passes while training (calls of the chip, any batch size)",
    "physical_samples": "samples through the physical chip while training",
    "queries_per_step": "physical passes per training step",
    "reprogrammings": "weight programmings of the chip, in whole-model equivalents (changed fraction summed)",
    "train_s": "training wall-clock (s; evaluations excluded)",
    "time_to_target_s": "training wall-clock until the physical accuracy first reached the target (blank: not reached)",
    "passes_to_target": "physical passes until the target was reached",
    "passes_to_clear": "physical passes until the accuracy first reached chance + margin (the zeroth-order methods' "
                       "query count to a common level)",
    "total_s": "wall-clock of the whole method run (evaluations and building the chips included)",
    "peak_kib": "peak memory held for training (KiB): declared state (parameters, gradients, optimizer moments, "
                "feedback matrices, feature matrix) + peak activations saved by autograd",
    "energy_per_step_j": "energy per training step on the hardware (J): physical + programming + digital",
    "physical_j_per_step": "physical forward samples x the estimator's energy per inference of the plan",
    "programming_j_per_step": "changed weights' share of the plan's programming energy",
    "digital_j_per_step": "digital MACs (twin, update rule, solve) x the hardware's digital MAC energy",
    "training_energy_j": "energy of the whole training (J)",
}


def _needs(method: Any, hw: Any) -> None:
    """A method that rewrites the weights in situ needs the hardware's cost of a write."""
    if not method.needs_programmable:
        return
    # families that program by writing cells price the write from [programming] write_energy
    writes_cells = "cell_write" in hw.tile_model.actions_to_program(1)
    if writes_cells and "write_energy" not in hw.params.get("programming", {}):
        raise AnalogcError(f"methods: {method.name} rewrites the weights on the chip at every step, but "
                           f"{hw.params.get('_file', hw.name)} has no [programming] write_energy to price it")


def _select(names: Iterable[str] | None, kind: str) -> list[Any]:
    from analogc.methods import METHODS, method_class

    if names is None:
        picked = [method_class(n)() for n in METHODS]
        return [m for m in picked if kind in m.kinds]
    names = list(names)
    if not names:
        raise AnalogcError("methods: method: expected at least one method name")
    out = []
    for n in names:
        m = method_class(n)()
        if kind not in m.kinds:
            raise AnalogcError(f"methods: {n} does not train {kind} tasks (it trains: {', '.join(m.kinds)})")
        out.append(m)
    return out


def run_table(task: Any = "digits", hw: Any = None, *, out: Any = None, quick: bool = False,
              methods: Iterable[str] | None = None, seed: int = 0, target: float | None = None,
              progress: bool = False) -> Any:
    """Run and measure the methods (see the module doc); returns the table as a DataFrame."""
    import pandas as pd

    from analogc.hardware import resolve_hw
    from analogc.methods.base import Setup
    from analogc.methods.tasks import Task, load_task

    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise AnalogcError(f"methods: seed: expected a non-negative integer, got {seed!r}")
    t = task if isinstance(task, Task) else load_task(task, seed)
    if target is None:
        target = TARGETS.get(t.name, 0.8)
    if isinstance(target, bool) or not isinstance(target, (int, float)) or not 0 < target <= 1:
        raise AnalogcError(f"methods: target: expected an accuracy in (0, 1], got {target!r}")
    if out is not None:
        from analogc.cli.common import check_out_dir
        check_out_dir(out, "out")
    hw_obj = resolve_hw(hw)
    picked = _select(methods, t.kind)
    for m in picked:
        _needs(m, hw_obj)
    setup = Setup(task=t, hw=hw_obj, seed=seed, quick=bool(quick), target=float(target))
    rows: list[dict[str, Any]] = []
    curves: dict[str, Any] = {}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small models: one thread is fastest and steady on a shared machine
    try:
        for m in picked:
            for hidden in m.sizes(setup):
                label = m.name if len(m.sizes(setup)) == 1 else f"{m.name}@{hidden}"
                if progress:
                    print(f"  {label} ...", flush=True)
                rows.append(_row(m, setup, hidden, label, curves))
    finally:
        torch.set_num_threads(threads)
    df = pd.DataFrame(rows)
    if out is not None:
        write_table(df, curves, out, t, hw_obj, quick)
    return df


def _row(m: Any, setup: Any, hidden: int, label: str, curves: dict[str, Any]) -> dict[str, Any]:
    from analogc.methods.base import measure

    t = setup.task
    row: dict[str, Any] = {"method": label, "title": m.title, "knows": m.knows, "hidden": hidden,
                           "task": t.name, "hw": setup.hw.name, "chance": t.chance, "target": setup.target}
    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tr, res, total = measure(m, setup, hidden)
    except AnalogcError:
        raise
    except Exception as e:  # noqa: BLE001 - one method's failure is its row, not the run's
        row.update({"status": f"error: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:200],
                    "total_s": time.perf_counter() - t0})
        row["traceback"] = traceback.format_exc(limit=3)
        return row
    mac_j = digital_mac_j(setup.hw)
    steps = max(tr.steps, 1)
    digital_j = tr.digital_macs * mac_j
    converged = res.accuracy >= t.chance + MARGIN
    row.update({
        "model_params": res.model_params, "trained_params": res.trained_params, "accuracy": res.accuracy,
        "status": "converged" if converged else "not converged within its budget",
        "steps": tr.steps, "physical_passes": tr.passes, "physical_samples": tr.samples,
        "queries_per_step": tr.passes / steps, "reprogrammings": tr.programs,
        "train_s": tr.train_s, "time_to_target_s": tr.time_to_target, "passes_to_target": tr.passes_to_target,
        "passes_to_clear": tr.passes_to_clear,
        "total_s": total, "peak_kib": tr.peak_bytes / 1024,
        "physical_j_per_step": tr.phys_j / steps, "programming_j_per_step": tr.program_j / steps,
        "digital_j_per_step": digital_j / steps,
        "energy_per_step_j": (tr.phys_j + tr.program_j + digital_j) / steps,
        "training_energy_j": tr.phys_j + tr.program_j + digital_j,
        "note": res.note,
    })
    curves[label] = tr.curve
    return row


def digital_mac_j(hw: Any) -> float:
    """The hardware's digital MAC energy (J), as the estimator prices digital work."""
    from hw_models.pricing import HardwareCosts
    return float(HardwareCosts(hw).unit_energy["digital_mac"]["digital"])


def _fmt(v: Any, spec: str = ".3g") -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    if isinstance(v, float):
        return format(v, spec)
    return str(v)


def markdown(df: Any, task: Any, hw: Any, quick: bool) -> str:
    cols = ["method", "knows", "trained_params", "accuracy", "status", "steps", "physical_passes",
            "queries_per_step", "train_s", "time_to_target_s", "passes_to_target", "passes_to_clear", "peak_kib",
            "energy_per_step_j", "training_energy_j"]
    lines = [f"# Training methods on {hw.name}: {task.name} ({'quick' if quick else 'full'} budgets)", "",
             f"Task: {task.description}; chance {task.chance:.2f}; converged = accuracy >= chance + {MARGIN}; "
             f"target accuracy {df['target'].iloc[0] if len(df) else '—'}.", "",
             "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, r in df.iterrows():
        lines.append("| " + " | ".join(_fmt(r.get(c)) for c in cols) + " |")
    lines += ["", "Columns:", ""] + [f"- `{k}`: {v}" for k, v in COLUMNS.items()]
    return "\n".join(lines) + "\n"


def plot(df: Any, curves: dict[str, Any], path: Path, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.5))
    cmap = plt.get_cmap("tab20")
    for i, (name, c) in enumerate(curves.items()):
        if not c:
            continue
        style = {"color": cmap(i % 20), "ls": ("-", "--", ":")[i % 3], "marker": "os^D"[i % 4], "ms": 3, "label": name}
        xs = [max(p["passes"], 0.8) for p in c]
        a.plot(xs, [p["accuracy"] for p in c], **style)
        b.plot([max(p["train_s"], 1e-3) for p in c], [p["accuracy"] for p in c], **style)
    a.set_xscale("log")
    b.set_xscale("log")
    a.set_xlabel("physical forward passes while training (0 shown at 0.8)")
    b.set_xlabel("training wall-clock (s)")
    for ax in (a, b):
        ax.set_ylabel("accuracy on the physical chip")
        if len(df):
            ax.axhline(float(df["chance"].iloc[0]), color="grey", ls=":", lw=1)
            ax.axhline(float(df["target"].iloc[0]), color="grey", ls="--", lw=1)
    if any(curves.values()):
        b.legend(fontsize=7, ncol=2)
    fig.suptitle(title)
    fig.tight_layout()
    import io
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    from analogc.fileio import write_atomic
    write_atomic(path, buf.getvalue())


def write_table(df: Any, curves: dict[str, Any], out: Any, task: Any, hw: Any, quick: bool) -> None:
    from analogc.fileio import json_dumps, write_atomic

    d = Path(out)
    d.mkdir(parents=True, exist_ok=True)
    write_atomic(d / "methods.csv", df.drop(columns=[c for c in ("traceback",) if c in df]).to_csv(index=False))
    write_atomic(d / "methods.md", markdown(df, task, hw, quick))
    write_atomic(d / "methods.json", json_dumps({"task": task.name, "hw": hw.name, "quick": quick,
                                                 "rows": df.to_dict(orient="records"), "curves": curves,
                                                 "columns": COLUMNS}, indent=1))
    plot(df, curves, d / "methods.png", f"{task.name} on {hw.name}")
