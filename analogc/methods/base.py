"""What every training method of :mod:`analogc.methods` shares.

A method is a :class:`TrainingMethod` subclass (one module each, one line in
:data:`analogc.methods.METHODS`). ``run(setup, tracker)`` trains against the physical systems
the :class:`Setup` builds (:func:`analogc.finetune.physical.mismatched_system` on the chosen
hardware's plan of the method's model: a deployed chip with hidden crosstalk, column gain and
offset errors and a compressive ADC that no twin knows), and returns the model to evaluate.

The :class:`Tracker` measures what the table reports, without the method's help where it can:

* every call of a physical system goes through :class:`Counted`, which counts the physical
  forward passes and samples, and a (re)programming whenever the weights differ from the
  previous call's (priced as the changed fraction of the plan's programming energy);
* the training clock stops while the tracker evaluates (``checkpoint``), and evaluation passes
  are not counted;
* methods declare their digital work (``tracker.digital(macs)``: twin forward/backward, the
  update arithmetic, a least-squares solve) in multiply-accumulates.

Energy per training step = (physical samples x the estimator's energy per inference of the
plan + programming + digital MACs x the hardware's digital MAC energy
(:class:`hw_models.pricing.HardwareCosts`, ``digital_mac``)) / steps.
"""
from __future__ import annotations

import copy
import math
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

import torch
from torch import nn

from analogc.finetune._batch import split_batch
from analogc.methods.tasks import Task

#: better than chance by this much (absolute accuracy) counts as converged
MARGIN = 0.2
#: what a method needs to know about the hardware (the review's Table 1 column)
KNOWS = ("twin", "twin + noise model", "activation derivative", "nothing")


def mlp(n_in: int, hidden: int, n_out: int, seed: int) -> nn.Sequential:
    """The methods' model: ``n_in -> hidden -> n_out`` with ReLU, initialized from ``seed``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, n_out))


def forward_macs(model: nn.Module) -> int:
    """Multiply-accumulates of one sample through the model's linear layers."""
    return sum(m.in_features * m.out_features for m in model.modules() if isinstance(m, nn.Linear))


def n_params(params: Any) -> int:
    return sum(p.numel() for p in params)


class Pricing:
    """What one physical forward of a plan's model costs (per sample, from the estimator on a
    plan traced at batch 1), its full programming energy, and the hardware's digital MAC."""

    def __init__(self, model: nn.Module, hw: Any, n_in: int) -> None:
        import analogc
        from hw_models.pricing import HardwareCosts

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.plan = analogc.compile(analogc.trace(model, (torch.zeros(1, n_in),)), hw=hw)
            rep = analogc.estimate(self.plan)
        self.sample_j = float(rep.summary["energy_j"])
        self.program_j = float(rep.summary.get("program_energy_j") or 0.0)
        self.mac_j = float(HardwareCosts(self.plan.hw).unit_energy["digital_mac"]["digital"])
        self.n_weights = sum(p.numel() for p in model.parameters())


class Tracker:
    """Counts and clocks one method's training (see the module doc)."""

    def __init__(self, task: Task, target: float, mac_j: float) -> None:
        self.task = task
        self.target = target
        self.mac_j = mac_j
        self.passes = 0
        self.samples = 0
        self.programs = 0.0
        self.phys_j = 0.0
        self.program_j = 0.0
        self.digital_macs = 0.0
        self.steps = 0
        self.solves = 0
        self.counting = True
        self.curve: list[dict[str, float]] = []
        self._train_s = 0.0
        self._t0: float | None = None
        self.time_to_target: float | None = None
        self.passes_to_target: int | None = None
        self.passes_to_clear: int | None = None
        self.state_bytes = 0
        self.memory_on = True
        self._saved = 0
        self.saved_peak = 0

    # -- memory --------------------------------------------------------------------------
    def keep(self, *tensors_or_bytes: Any) -> None:
        """Declare training state held for the whole run (parameters trained, gradients,
        optimizer moments, feedback matrices, a feature matrix): tensors or byte counts."""
        for t in tensors_or_bytes:
            if isinstance(t, torch.Tensor):
                self.state_bytes += t.numel() * t.element_size()
            elif isinstance(t, (list, tuple)):
                self.keep(*t)
            else:
                self.state_bytes += int(t)

    @property
    def peak_bytes(self) -> int:
        """Declared state + the peak of the activations autograd saved for a backward."""
        return self.state_bytes + self.saved_peak

    def saving(self) -> Any:
        """A context counting the tensors autograd saves for backward (what backpropagation
        must hold between its forward and backward)."""
        tr = self

        class _Held:
            __slots__ = ("t", "n")

            def __init__(self, t: torch.Tensor) -> None:
                self.t = t
                self.n = t.numel() * t.element_size() if tr.memory_on else 0
                tr._saved += self.n
                tr.saved_peak = max(tr.saved_peak, tr._saved)

            def __del__(self) -> None:
                tr._saved -= self.n

        return torch.autograd.graph.saved_tensors_hooks(_Held, lambda h: h.t)

    # -- clock ---------------------------------------------------------------------------
    def start(self) -> None:
        self._t0 = time.perf_counter()

    def pause(self) -> None:
        if self._t0 is not None:
            self._train_s += time.perf_counter() - self._t0
            self._t0 = None

    @property
    def train_s(self) -> float:
        return self._train_s + (time.perf_counter() - self._t0 if self._t0 is not None else 0.0)

    # -- counts --------------------------------------------------------------------------
    def digital(self, macs: float) -> None:
        self.digital_macs += float(macs)

    def step(self, n: int = 1) -> None:
        self.steps += n

    def checkpoint(self, accuracy: Callable[[], float]) -> float:
        """Stop the clock, measure ``accuracy()`` on the physical system (not counted), record
        the point of the curve, restart the clock."""
        self.pause()
        self.counting = False
        try:
            with torch.no_grad():
                acc = float(accuracy())
        finally:
            self.counting = True
        self.curve.append({"train_s": self._train_s, "passes": self.passes, "steps": self.steps, "accuracy": acc})
        if self.passes_to_clear is None and acc >= self.task.chance + MARGIN:
            self.passes_to_clear = self.passes
        if self.time_to_target is None and acc >= self.target:
            self.time_to_target = self._train_s
            self.passes_to_target = self.passes
        self.start()
        return acc


class Counted:
    """A physical system whose calls the tracker counts and prices (the PhysicalSystem
    interface of :mod:`analogc.finetune.base`: ``forward``, ``twin``, ``layer_outputs``,
    ``twin_module`` pass through)."""

    def __init__(self, system: Any, tracker: Tracker, pricing: Pricing) -> None:
        self.system = system
        self.tracker = tracker
        self.pricing = pricing
        self.twin = getattr(system, "twin", None)
        self._last: torch.Tensor | None = None

    def _count(self, model: nn.Module, batch: Any) -> None:
        if not self.tracker.counting:
            return
        x = split_batch(batch)[0]
        n = int((x[0] if isinstance(x, tuple) else x).shape[0])
        t = self.tracker
        t.passes += 1
        t.samples += n
        t.phys_j += n * self.pricing.sample_j
        with torch.no_grad():
            flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
        changed = flat.numel() if self._last is None else int((flat != self._last).sum())
        if changed:
            frac = changed / max(flat.numel(), 1)
            t.programs += frac
            t.program_j += frac * self.pricing.program_j
            self._last = flat.clone()

    def forward(self, model: nn.Module, batch: Any) -> Any:
        self._count(model, batch)
        return self.system.forward(model, batch)

    def layer_outputs(self, model: nn.Module, batch: Any) -> Any:
        self._count(model, batch)
        return self.system.layer_outputs(model, batch)

    def twin_module(self, model: nn.Module) -> nn.Module:
        return self.system.twin_module(model) if hasattr(self.system, "twin_module") else model


@dataclass
class Setup:
    """One table run's shared inputs: the task, the hardware, the seed, quick or full budgets,
    and the target accuracy (for wall-clock to target)."""

    task: Task
    hw: Any
    seed: int = 0
    quick: bool = False
    target: float = 0.8
    hidden: int = 32
    _pricing: dict[tuple, Pricing] = field(default_factory=dict)
    _refs: dict[tuple, nn.Module] = field(default_factory=dict)

    def budget(self, quick: Any, full: Any) -> Any:
        return quick if self.quick else full

    def pricing(self, model: nn.Module) -> Pricing:
        key = tuple((m.in_features, m.out_features) for m in model.modules() if isinstance(m, nn.Linear))
        if key not in self._pricing:
            self._pricing[key] = Pricing(model, self.hw, key[0][0])
        return self._pricing[key]

    def physical(self, model: nn.Module, tracker: Tracker, *, chip: int = 0,
                 calibration: list[torch.Tensor] | None = None) -> Counted:
        """The mismatched physical chip running ``model`` (the documented default mismatches of
        :func:`analogc.finetune.physical.mismatched_system`), calibrated on ``calibration``
        (default: the first 256 training inputs; for a model whose input is not the task's,
        its first batch), counted by ``tracker``. ``chip`` picks another chip (another layer
        of a layer-by-layer system)."""
        running = tracker._t0 is not None
        tracker.pause()  # building the chip (compiling, pricing, the reference) is not training
        tracker.memory_on = False
        try:
            return self._physical(model, tracker, chip, calibration)
        finally:
            tracker.memory_on = True
            if running:
                tracker.start()

    def _physical(self, model: nn.Module, tracker: Tracker, chip: int, calibration: Any) -> Counted:
        from analogc.finetune.physical import mismatched_system

        pr = self.pricing(model)
        n_in = next(m for m in model.modules() if isinstance(m, nn.Linear)).in_features
        if calibration is None and self.task.kind == "static" and n_in == self.task.n_in:
            calibration = [self.task.x_train[:256]]
        sysm = mismatched_system(pr.plan, seed=self.seed + 7919 * chip, calibration=calibration)
        ref = self.reference(model)
        if ref is not None:  # the chip's full scale: set once, for a trained model of this shape
            with torch.no_grad():
                sysm.forward(ref, (calibration[0],))
        return Counted(sysm, tracker, pr)

    def reference(self, model: nn.Module) -> nn.Module | None:
        """A digitally trained model of ``model``'s shape (a 2-layer MLP on the task's input),
        or None for other models. The physical chip's first calibration runs it: the hidden
        ADC compression's full scale Y (fixed from then on, see
        :class:`analogc.finetune.physical.DeployedSystem`) is the one a chip set up for this task
        would have, not that of the random initial weights (whose outputs are a few times
        smaller: trained weights would then sit deep in the compression). A modelling choice."""
        lin = [m for m in model.modules() if isinstance(m, nn.Linear)]
        if self.task.kind != "static" or len(lin) != 2 or lin[0].in_features != self.task.n_in:
            return None
        key = (lin[0].out_features, lin[1].out_features)
        if key not in self._refs:
            from analogc.finetune.data import train_digital
            ref = mlp(self.task.n_in, key[0], key[1], self.seed + 99)
            x, y = self.task.x_train, self.task.y_train
            train_digital(ref, [(x[i:i + 64], y[i:i + 64]) for i in range(0, len(x), 64)], epochs=10,
                          seed=self.seed)
            self._refs[key] = ref
        return self._refs[key]

    def batches(self, batch_size: int, steps: int, *, seed_offset: int = 0) -> Any:
        """``steps`` training minibatches ``(x, y)`` drawn with replacement (deterministic)."""
        g = torch.Generator().manual_seed(self.seed * 7 + 13 + seed_offset)
        x, y = self.task.x_train, self.task.y_train
        for _ in range(steps):
            idx = torch.randint(0, len(x), (batch_size,), generator=g)
            yield x[idx], y[idx]


def accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    keep = y != -100
    return float(((logits.argmax(-1) == y) & keep).sum()) / max(int(keep.sum()), 1)


def physical_accuracy(system: Counted, model: nn.Module, task: Task) -> float:
    """Accuracy of ``model`` on the physical system on the validation split."""
    return accuracy(system.forward(model, (task.x_val, task.y_val)), task.y_val)


@dataclass
class Outcome:
    """What a method returns: its final accuracy on the physical system, and notes for the table
    (per extra row: ``rows`` holds additional ``(label, Tracker, accuracy, extra)``)."""

    accuracy: float
    trained_params: int
    model_params: int
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class TrainingMethod:
    """One training method. Subclasses set the class attributes and implement ``run``."""

    #: registry name
    name: ClassVar[str] = ""
    #: one line for the table
    title: ClassVar[str] = ""
    #: what it needs to know about the hardware (:data:`KNOWS`)
    knows: ClassVar[str] = "nothing"
    #: task kinds it trains ("static", "sequence")
    kinds: ClassVar[tuple[str, ...]] = ("static",)
    #: whether the hardware's analog layer must be reprogrammable (in-situ weight updates)
    needs_programmable: ClassVar[bool] = False

    def sizes(self, setup: Setup) -> list[int]:
        """Hidden sizes it runs at (one table row each)."""
        return [setup.hidden]

    def run(self, setup: Setup, tracker: Tracker, hidden: int) -> Outcome:
        raise NotImplementedError


def measure(method: TrainingMethod, setup: Setup, hidden: int) -> tuple[Tracker, Outcome, float]:
    """Run ``method`` with a fresh tracker: (tracker, outcome, total wall-clock in s including
    the evaluations and building the physical systems)."""
    tr = Tracker(setup.task, setup.target, 0.0)
    t0 = time.perf_counter()
    with tr.saving():
        tr.start()
        out = method.run(setup, tr, hidden)
        tr.pause()
    return tr, out, time.perf_counter() - t0


def clone(model: nn.Module) -> nn.Module:
    return copy.deepcopy(model)


def adam(params: Any, lr: float) -> torch.optim.Optimizer:
    return torch.optim.Adam(list(params), lr=lr)


#: update arithmetic of one Adam step, in MAC-equivalents per parameter (two moment updates,
#: the square root and division, the step: a modelling choice, counted as ~5 MACs)
ADAM_MACS_PER_PARAM = 5


def finite(x: float) -> bool:
    return isinstance(x, float) and math.isfinite(x)
