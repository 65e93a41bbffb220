"""The fine-tuning loop: optimizer, progress bar, checkpoints and resume, torch.distributed,
evaluation over chip instances, metrics.json and the training curves.

:func:`finetune` owns the loop; the method (:mod:`analogc.finetune.methods`) owns what is
trained and the loss. Resume is exact on CPU: a checkpoint holds the parameters and buffers of
the module being trained, the method's own state, the optimizer, the step, the data position
(epoch, batches consumed) and every random stream (torch's global one and each generator of the
deployed models: per-MVM noise, device draws, the noise pool's). At every checkpoint the
deployed models are brought to a state a resumed run can rebuild exactly: their tiles are
programmed again in full at the next forward and their noise pools redrawn from the saved
streams, in the uninterrupted run as in the resumed one, so both reach the same weights bit for
bit.

Distributed (``torchrun --nproc_per_node N``, or an initialised process group): each rank
takes its slice (``torch.tensor_split`` along the first dimension) of every batch of the
user's data, so a batch is the *global* batch; gradients are averaged by
``DistributedDataParallel`` over the trainable parameters (gloo on CPU, nccl on GPUs). Every
rank programs the same chip (the device streams are the run's), and draws its own per-MVM noise
(rank r > 0 offsets its noise streams; rank 0 draws what a single process draws). So a
distributed run equals a single-process run on the same global batches up to float rounding of
the gradient all-reduce when the forward is noise-free given the weights (e.g. quantization,
clipping, programming noise); with per-MVM noise both are valid runs with different noise
realisations. Rank 0 writes the files and evaluates.
"""
from __future__ import annotations

import io
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import torch
from torch import nn

from analogc.errors import AnalogcError
from analogc.fileio import json_dumps, write_atomic
from analogc.finetune._batch import split_batch
from analogc.finetune.base import Method, TrainContext

FORMAT = "analogc.finetune"
VERSION = 1
CHECKPOINT = "checkpoint.pt"
RUN = "run.json"
METRICS = "metrics.json"
CURVES = "training_curves.png"
#: the files a run writes into ``out`` (a directory holding others is refused)
RUN_FILES = (RUN, CHECKPOINT, METRICS, CURVES)


@dataclass
class FinetuneResult:
    """What :func:`analogc.finetune` returns beside the trained model: ``metrics`` (as in
    ``metrics.json``), ``history`` (one ``{"step", "epoch", "loss"}`` per step), ``out``
    (the output directory or None), ``method``; ``result["deployed_after"]`` reads a metric."""

    metrics: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)
    out: Path | None = None
    method: str = ""

    def __getitem__(self, key: str) -> Any:
        return self.metrics[key]


# ---------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------
class _Data:
    """The user's batches: re-iterable (a one-shot iterator is materialised once), checked."""

    def __init__(self, data: Any, what: str = "data") -> None:
        self.what = what
        if isinstance(data, (torch.Tensor, dict)) or data is None or isinstance(data, (str, bytes)):
            raise AnalogcError(f"finetune: {what}: expected an iterable of batches (tensors, (inputs, labels) "
                               f"tuples or dicts) or a DataLoader, got {type(data).__name__}"
                               + (" (wrap a single batch in a list: [batch])" if isinstance(data, (torch.Tensor, dict))
                                  else ""))
        try:
            it = iter(data)
        except TypeError:
            raise AnalogcError(f"finetune: {what}: expected an iterable of batches (tensors, (inputs, labels) "
                               f"tuples or dicts) or a DataLoader, got {type(data).__name__}") from None
        self.data = list(it) if it is data else data  # a generator: read once, kept
        first = next(iter(self.data), None)
        if first is None:
            raise AnalogcError(f"finetune: {what}: expected at least one batch, got none (an empty data set)")
        self.first = first
        check_batch(first, 0, what)
        try:
            self.n = len(self.data)
        except TypeError:
            self.n = sum(1 for _ in self.data)

    def epoch(self, seed: int, epoch: int, skip: int = 0) -> Iterator[Any]:
        """The batches of one epoch, the first ``skip`` consumed; a shuffling DataLoader draws its
        order from ``seed + epoch`` (torch's global stream is left as it was)."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed * 1_000_003 + epoch)
            it = iter(self.data)
            head = next(it, None)  # a sampler draws its order on the first batch
        if head is None:
            return
        i = 0
        for b in _chain(head, it):
            if i >= skip:
                yield b
            i += 1


def _chain(head: Any, it: Iterator[Any]) -> Iterator[Any]:
    yield head
    yield from it


def _tensors(batch: Any) -> list[tuple[str, Any]]:
    inputs, labels = split_batch(batch)
    if isinstance(inputs, torch.Tensor):
        items = [("inputs", inputs)]
    elif isinstance(inputs, dict):
        items = [(f"input {k!r}", v) for k, v in inputs.items()]
    elif len(inputs) == 1:
        items = [("inputs", inputs[0])]
    else:
        items = [(f"input {j}", v) for j, v in enumerate(inputs)]
    if labels is not None:
        items.append(("labels", labels))
    return items


def check_batch(batch: Any, i: int, what: str = "data") -> None:
    """One batch: a tensor, an (inputs..., labels) tuple or a dict of tensors, none of them
    empty, floating-point inputs finite; otherwise one error line naming the batch."""
    try:
        items = _tensors(batch)
    except AnalogcError as e:
        raise AnalogcError(f"finetune: {what}: batch {i}: {e}") from None
    for name, t in items:
        if not isinstance(t, torch.Tensor):
            if name.startswith("input") and isinstance(batch, dict):
                continue  # a non-tensor keyword (a flag) passes through
            raise AnalogcError(f"finetune: {what}: batch {i}: {name}: expected a tensor, got {type(t).__name__}")
        if t.dim() == 0 or t.shape[0] == 0 or t.numel() == 0:
            raise AnalogcError(f"finetune: {what}: batch {i}: {name}: expected a batch of at least one row, "
                               f"got shape {tuple(t.shape)}")
        if t.dtype == torch.bool or t.is_complex():
            raise AnalogcError(f"finetune: {what}: batch {i}: {name}: expected floating-point or integer "
                               f"values, got {t.dtype}")
        if torch.is_floating_point(t) and not bool(torch.isfinite(t).all()):
            raise AnalogcError(f"finetune: {what}: batch {i}: {name} contains NaN or inf")


def _signature(batch: Any) -> list[tuple[str, Any, int]]:
    return [(n, t.dtype, t.dim()) for n, t in _tensors(batch) if isinstance(t, torch.Tensor)]


def shard(batch: Any, rank: int, world: int) -> Any:
    """Rank ``rank``'s slice of a global batch (``tensor_split`` of every tensor along dim 0)."""
    if world == 1:
        return batch
    if isinstance(batch, torch.Tensor):
        if batch.shape[0] < world:
            raise AnalogcError(f"finetune: a batch of {batch.shape[0]} row(s) cannot be split over {world} processes")
        return torch.tensor_split(batch, world)[rank]
    if isinstance(batch, dict):
        return {k: shard(v, rank, world) if isinstance(v, torch.Tensor) and v.dim() else v for k, v in batch.items()}
    if isinstance(batch, (tuple, list)):
        return type(batch)(shard(v, rank, world) if isinstance(v, torch.Tensor) and v.dim() else v for v in batch)
    return batch


# ---------------------------------------------------------------------------------------
# the simulation state a checkpoint must capture
# ---------------------------------------------------------------------------------------
def _modules_of(method: Method, physical: Any) -> list[nn.Module]:
    """Every module the method (and the physical system) holds: the deployed models whose
    random streams and caches a checkpoint covers."""
    out: list[nn.Module] = []
    seen: set[int] = set()

    def add(obj: Any, depth: int = 0) -> None:
        if isinstance(obj, nn.Module):
            if id(obj) not in seen:
                seen.add(id(obj))
                out.append(obj)
            return
        if depth > 1 or obj is None or isinstance(obj, (str, bytes, int, float, torch.Tensor)):
            return
        vals = obj.values() if isinstance(obj, dict) else obj if isinstance(obj, (list, tuple)) else \
            vars(obj).values() if hasattr(obj, "__dict__") else ()
        for v in list(vals):
            add(v, depth + 1)

    add(method.module())
    add(method)
    add(physical)
    return out


def _generators(modules: list[nn.Module]) -> tuple[list[torch.Generator], list[Any], list[Any]]:
    """(generators, analog layers, noise pools) of the deployed models among ``modules``, in a
    fixed order."""
    from analogc.sim.tile import AnalogMVM

    gens: list[torch.Generator] = []
    layers: list[Any] = []
    pools: list[Any] = []
    ids: set[int] = set()

    def add(g: Any) -> None:
        if isinstance(g, torch.Generator) and id(g) not in ids:
            ids.add(id(g))
            gens.append(g)

    for root in modules:
        for m in root.modules():
            if isinstance(m, AnalogMVM):
                layers.append(m)
                add(m.gen)
                add(getattr(m, "dev_gen", None))
                if all(p is not m.pool for p in pools):
                    pools.append(m.pool)
                    add(m.pool.gen)
            am = getattr(m, "_analogc_matmul", None)
            if am is not None:
                add(am.gen)
    return gens, layers, pools


def _sync_simulation(layers: list[Any], pools: list[Any]) -> None:
    """Program every analog layer in full at its next forward and redraw the noise pools: a
    state a resumed run rebuilds exactly from the checkpoint."""
    for m in layers:
        m.reprogram()
    for p in pools:
        p.pool = torch.empty(0)


def _rank_streams(layers: list[Any], modules: list[nn.Module], rank: int) -> None:
    """Rank r > 0 draws its own per-MVM noise (the chip, i.e. the device streams, is shared)."""
    if rank == 0:
        return
    for m in layers:
        m.gen.manual_seed(m.seed + 1 + 7_919 * rank)
    for root in modules:
        for mm in root.modules():
            am = getattr(mm, "_analogc_matmul", None)
            if am is not None:
                am.gen.manual_seed(am.gen.initial_seed() + 7_919 * rank)


# ---------------------------------------------------------------------------------------
# output directory and checkpoints
# ---------------------------------------------------------------------------------------
def _check_out(out: Path, resume: bool, fingerprint: dict[str, Any]) -> bool:
    """Whether ``out`` holds this run to resume; refuses (one line, nothing written) a file, a
    directory with another run's or foreign files, or a resume of nothing."""
    if out.exists() and not out.is_dir():
        raise AnalogcError(f"finetune: out {out}: expected a directory, got a file")
    entries = sorted(p.name for p in out.iterdir()) if out.exists() else []
    run = out / RUN
    if not entries:
        if resume:
            raise AnalogcError(f"finetune: resume: {out} holds no run to resume (empty or missing); "
                               f"run without resume first")
        return False
    if not run.exists():
        raise AnalogcError(f"finetune: out {out}: not empty ({', '.join(entries[:3])}"
                           f"{' ...' if len(entries) > 3 else ''}) and holds no fine-tuning run; "
                           f"choose an empty or new directory")
    try:
        prev = json.loads(run.read_text())
    except (OSError, ValueError) as e:
        raise AnalogcError(f"finetune: out {out}: {RUN} cannot be read ({type(e).__name__}); choose another "
                           f"directory") from None
    if not isinstance(prev, dict) or prev.get("format") != FORMAT:
        raise AnalogcError(f"finetune: out {out}: {RUN} is not an analogc.finetune run; choose another directory")
    if not resume:
        raise AnalogcError(f"finetune: out {out}: holds a previous run ({', '.join(e for e in entries if e in RUN_FILES)}); "
                           f"pass resume=True (--resume) to continue it, or choose an empty directory")
    _same_run(prev.get("fingerprint", {}), fingerprint, f"out {out}")
    return True


def _same_run(prev: dict[str, Any], now: dict[str, Any], where: str) -> None:
    diff = [k for k in sorted(set(prev) | set(now)) if prev.get(k) != now.get(k)]
    if diff:
        k = diff[0]
        raise AnalogcError(f"finetune: {where}: holds another run ({k} {prev.get(k)!r} there, {now.get(k)!r} here); "
                           f"resume it with the same settings or choose another directory")


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """``torch.save`` into memory, then one atomic write (an interrupted save leaves the last
    checkpoint whole)."""
    buf = io.BytesIO()
    torch.save(state, buf)
    write_atomic(path, buf.getvalue())


def load_checkpoint(path: Path, fingerprint: dict[str, Any]) -> dict[str, Any]:
    """A checkpoint of this run (``torch.load(weights_only=True)``); a corrupt file, another
    program's file or another run's checkpoint is one error line."""
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file is the user's input
        msg = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise AnalogcError(f"finetune: checkpoint {path}: cannot be read ({type(e).__name__}: {msg}); it is "
                           f"corrupt or not a checkpoint") from None
    if not isinstance(ck, dict) or ck.get("format") != FORMAT:
        raise AnalogcError(f"finetune: checkpoint {path}: not an analogc.finetune checkpoint")
    if ck.get("version") != VERSION:
        raise AnalogcError(f"finetune: checkpoint {path}: version {ck.get('version')!r}, expected {VERSION}")
    _same_run(ck.get("fingerprint", {}), fingerprint, f"checkpoint {path}")
    return ck


# ---------------------------------------------------------------------------------------
# distributed
# ---------------------------------------------------------------------------------------
def _distributed() -> tuple[int, int, bool]:
    """(rank, world size, whether this call initialised the process group): an initialised
    group, or torchrun's environment (WORLD_SIZE > 1: gloo on CPU, nccl with CUDA)."""
    import torch.distributed as dist

    if not dist.is_available():
        return 0, 1, False
    if dist.is_initialized():
        return dist.get_rank(), dist.get_world_size(), False
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        return dist.get_rank(), dist.get_world_size(), True
    return 0, 1, False


class _LossModule(nn.Module):
    """What DistributedDataParallel wraps: the trainable parameters, and a forward that is the
    method's loss (so the trainer needs nothing else from the method)."""

    def __init__(self, method: Method, params: list[nn.Parameter]) -> None:
        super().__init__()
        self.params = nn.ParameterList(params)
        self.method = [method]  # not a submodule

    def forward(self, batch: Any) -> torch.Tensor:
        return self.method[0].loss(batch)


# ---------------------------------------------------------------------------------------
# the loop
# ---------------------------------------------------------------------------------------
def _positive(name: str, v: Any, integer: bool, allow_none: bool = False) -> None:
    if v is None and allow_none:
        return
    ok = (isinstance(v, int) if integer else isinstance(v, (int, float))) and not isinstance(v, bool)
    if not ok or not math.isfinite(v) or v <= 0:
        raise AnalogcError(f"finetune: {name}: expected a positive {'integer' if integer else 'number'}, got {v!r}")


def _resolve_plan(model: nn.Module, hw_or_plan: Any, first: Any) -> Any:
    from analogc.mapping.plan import Plan
    from analogc.sim.deploy import _resolve_plan as resolve

    if isinstance(hw_or_plan, Plan):
        return hw_or_plan
    inputs, _ = split_batch(first)
    ex = inputs if not isinstance(inputs, list) else tuple(inputs)
    return resolve(model, hw_or_plan, ex, None)


def _fingerprint(method: str, model: nn.Module, plan: Any, data: _Data, total: int, epochs: int, lr: float,
                 weight_decay: float, seed: int, world: int, options: dict[str, Any],
                 lr_schedule: str = "cosine") -> dict[str, Any]:
    return {"method": method, "lr_schedule": lr_schedule, "model": type(model).__name__,
            "params": sum(p.numel() for p in model.parameters()), "hardware": plan.hw.name,
            "steps": total, "epochs": epochs, "lr": lr, "weight_decay": weight_decay, "seed": seed,
            "batches": data.n, "world_size": world,
            "options": json.loads(json_dumps({k: repr(v) for k, v in sorted(options.items())}))}


def _progress(enabled: bool, total: int, start: int):
    if not enabled:
        return None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
    prog = Progress(TextColumn("finetune"), BarColumn(), MofNCompleteColumn(), TextColumn("loss {task.fields[loss]}"),
                    TimeRemainingColumn(), transient=False)
    task = prog.add_task("steps", total=total, completed=start, loss="-")
    prog.start()
    return prog, task


def finetune(model: nn.Module, hw_or_plan: Any, data: Iterable[Any], *, method: str = "hwa",
             steps: int | None = None, epochs: int = 1, lr: float = 1e-3, weight_decay: float = 0.0,
             seed: int = 0, seeds: int = 5, out: str | os.PathLike | None = None, resume: bool = False,
             eval_data: Iterable[Any] | None = None, loss_fn: Callable[[Any, Any], torch.Tensor] | None = None,
             metric: Any = None, physical: Any = None, drift_times: Iterable[float] | None = None,
             checkpoint_every: int | None = None, progress: bool = True, evaluate: bool = True,
             lr_schedule: str = "cosine", eval_options: dict[str, Any] | None = None,
             **method_options: Any) -> tuple[nn.Module, FinetuneResult]:
    """Fine-tune ``model`` for the hardware of ``hw_or_plan`` (a preset name, a Hardware or a
    Plan) and return ``(trained digital model, FinetuneResult)``.

    ``data``: an iterable of batches (a tensor, an ``(inputs..., labels)`` tuple, or a Hugging
    Face dict whose ``"labels"`` are the labels) or a DataLoader; each batch is one optimizer
    step (the global batch when distributed). ``method``: ``"hwa"``, ``"pat"``, ``"distill"``,
    ``"lora"`` (:data:`analogc.finetune.methods.METHODS`); ``**method_options`` go to it.
    ``steps`` (default: ``epochs`` passes over the data), ``lr`` and ``weight_decay`` of AdamW
    (``lr_schedule``: ``"cosine"`` decay to 0 over the run, default, or ``"constant"``),
    ``seed`` (the training chip and every random stream), ``seeds``: chip instances the model is
    evaluated on before and after (seeds ``100 ...``), on ``eval_data`` (default: ``data``)
    with ``metric`` (``"accuracy"`` for integer labels, ``"fidelity"`` without labels, else
    ``"loss"``; or ``"perplexity"``, or a callable ``metric(model, batches)``);
    ``drift_times``: also evaluate the trained model at these read times (PCM); ``eval_options``:
    :func:`analogc.deploy` simulation options of the evaluation chips (merged over the method's
    own, e.g. HWA's ``t_inference``). ``loss_fn(output,
    batch)``: the task loss (default: a Hugging Face output's ``loss``, else cross-entropy).
    ``physical``: the :class:`~analogc.finetune.base.PhysicalSystem` (PAT).

    ``out``: a directory for ``run.json``, ``checkpoint.pt`` (every ``checkpoint_every`` steps,
    default a fifth of the run, and at the end), ``metrics.json`` and ``training_curves.png``;
    ``resume=True`` continues its last checkpoint (bit-identical on CPU to a run that was never
    interrupted). A directory with another run's or foreign files is refused.

    Example::

        trained, res = analogc.finetune(mlp, "pcm-hermes", train, eval_data=val, steps=300, out="ft")
        res["deployed_after"]["mean"], res["deployed_before"]["mean"]
    """
    from analogc.finetune.methods import method_class

    t_start = time.perf_counter()
    cls = method_class(method)
    if not isinstance(model, nn.Module):
        raise AnalogcError(f"finetune: model: expected a torch.nn.Module, got {type(model).__name__}")
    _positive("steps", steps, True, allow_none=True)
    _positive("epochs", epochs, True)
    _positive("lr", lr, False)
    _positive("seeds", seeds, True)
    _positive("checkpoint_every", checkpoint_every, True, allow_none=True)
    if isinstance(weight_decay, bool) or not isinstance(weight_decay, (int, float)) or weight_decay < 0:
        raise AnalogcError(f"finetune: weight_decay: expected a number >= 0, got {weight_decay!r}")
    if lr_schedule not in ("cosine", "constant"):
        raise AnalogcError(f"finetune: lr_schedule: expected 'cosine' or 'constant', got {lr_schedule!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise AnalogcError(f"finetune: seed: expected an integer, got {seed!r}")
    if resume and out is None:
        raise AnalogcError("finetune: resume: expected out= (the directory of the run to resume)")
    from analogc.finetune.evaluate import check_metric, default_metric, forward_batch

    train = _Data(data, "data")
    val = _Data(eval_data, "eval_data") if eval_data is not None else train
    metric = metric if metric is not None else default_metric(val.first)
    check_metric(metric)
    needs_labels = getattr(cls, "needs_labels", True) and loss_fn is None
    if needs_labels and split_batch(train.first)[1] is None:
        raise AnalogcError(f"finetune: data: batch 0 has no labels, and method {method!r} needs them: expected "
                           f"(inputs, labels) tuples or dicts with 'labels' (or pass loss_fn=)")
    rank, world, own_group = _distributed()
    try:
        torch.manual_seed(seed)
        # the first batch through the digital model (and its loss): one line if either rejects it
        was = model.training
        try:
            with torch.no_grad(), torch.random.fork_rng(devices=[]):
                o = forward_batch(model, train.first)
                if needs_labels or loss_fn is not None:
                    from analogc.finetune.methods._common import default_loss
                    (loss_fn or default_loss)(o, train.first)
        except AnalogcError as e:
            raise AnalogcError(f"finetune: data: batch 0: {e}") from None
        except (RuntimeError, ValueError, IndexError, TypeError) as e:
            msg = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
            raise AnalogcError(f"finetune: data: batch 0: the model or the loss rejected it ({msg})") from None
        finally:
            model.train(was)
        plan = _resolve_plan(model, hw_or_plan, train.first)
        total = steps if steps is not None else epochs * train.n
        every = checkpoint_every or max(1, math.ceil(total / 5))
        fp = _fingerprint(method, model, plan, train, total, epochs, float(lr), float(weight_decay), seed, world,
                          method_options, lr_schedule)
        out_dir = Path(out) if out is not None else None
        resuming = _check_out(out_dir, resume, fp) if out_dir is not None else False
        ck = None
        if resuming and (out_dir / CHECKPOINT).exists():
            ck = load_checkpoint(out_dir / CHECKPOINT, fp)
        if out_dir is not None and rank == 0 and not resuming:
            write_atomic(out_dir / RUN, json_dumps({"format": FORMAT, "version": VERSION, "fingerprint": fp},
                                                   indent=2))

        m = cls()
        ctx = TrainContext(model=model, plan=plan, seed=seed, loss_fn=loss_fn, options=dict(method_options),
                           physical=physical, example_batch=train.first)  # the global batch: every rank calibrates alike
        m.setup(ctx)
        modules = _modules_of(m, physical)
        gens, layers, pools = _generators(modules)
        _rank_streams(layers, modules, rank)
        params = list(m.trainable())
        if not params:
            raise AnalogcError(f"finetune: method {method!r} has no trainable parameters for this model")
        opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, _schedule(lr_schedule, total))
        step, epoch, pos, wall, history = 0, 0, 0, 0.0, []
        if ck is not None:
            try:
                m.module().load_state_dict(ck["module"])
                m.load_state_dict(ck["method"])
                opt.load_state_dict(ck["optimizer"])
                sched.load_state_dict(ck["scheduler"])
            except (RuntimeError, KeyError, ValueError, TypeError) as e:
                msg = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
                raise AnalogcError(f"finetune: checkpoint {out_dir / CHECKPOINT}: does not fit this run ({msg})") from None
            step, epoch, pos, wall = ck["step"], ck["epoch"], ck["pos"], float(ck["wall_s"])
            history = list(ck["history"])
        loss_module = _LossModule(m, params)
        runner: Any = loss_module
        if world > 1:
            from torch.nn.parallel import DistributedDataParallel as DDP
            runner = DDP(loss_module, find_unused_parameters=True, broadcast_buffers=False)
        batches = train.epoch(seed, epoch, pos)
        if ck is not None:  # the state the uninterrupted run had at this step
            _sync_simulation(layers, pools)
            torch.set_rng_state(ck["rng"]["torch"])
            for g, s in zip(gens, ck["rng"]["generators"]):
                g.set_state(s)
            if len(ck["rng"]["generators"]) != len(gens):
                raise AnalogcError(f"finetune: checkpoint {out_dir / CHECKPOINT}: does not fit this run "
                                   f"({len(ck['rng']['generators'])} random streams saved, {len(gens)} here)")
        else:
            torch.manual_seed(seed + 7_919 * rank)
        sig = _signature(train.first)
        bar = _progress(progress and rank == 0 and step < total, total, step)
        t0 = time.perf_counter()
        try:
            while step < total:
                batch = next(batches, None)
                if batch is None:
                    epoch, pos = epoch + 1, 0
                    batches = train.epoch(seed, epoch)
                    continue
                if _signature(batch) != sig:
                    check_batch(batch, pos, "data")
                    raise AnalogcError(f"finetune: data: batch {pos} of epoch {epoch}: expected tensors like batch 0 "
                                       f"({', '.join(f'{n} {d} {k}-d' for n, d, k in sig)}), got "
                                       f"{', '.join(f'{n} {d} {k}-d' for n, d, k in _signature(batch))}")
                pos += 1
                opt.zero_grad(set_to_none=True)
                try:
                    loss = runner(shard(batch, rank, world))
                except (RuntimeError, ValueError, IndexError, TypeError) as e:
                    if isinstance(e, AnalogcError):
                        raise
                    msg = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
                    raise AnalogcError(f"finetune: data: batch {pos - 1} of epoch {epoch}: rejected ({msg})") from None
                loss.backward()
                opt.step()
                sched.step()
                step += 1
                lv = loss.detach().float()
                if world > 1:
                    import torch.distributed as dist
                    lv = lv.clone()
                    dist.all_reduce(lv)
                    lv /= world
                lv = float(lv)
                if not math.isfinite(lv):
                    raise AnalogcError(f"finetune: step {step}: the loss is {lv} (training diverged); lower lr "
                                       f"(now {lr})")
                history.append({"step": step, "epoch": epoch, "loss": lv})
                if bar is not None:
                    bar[0].update(bar[1], completed=step, loss=f"{lv:.4g}")
                if step % every == 0 or step == total:
                    _sync_simulation(layers, pools)
                    if out_dir is not None and rank == 0:
                        save_checkpoint(out_dir / CHECKPOINT, {
                            "format": FORMAT, "version": VERSION, "fingerprint": fp, "step": step,
                            "epoch": epoch, "pos": pos, "wall_s": wall + time.perf_counter() - t0,
                            "history": history, "module": m.module().state_dict(), "method": m.state_dict(),
                            "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                            "rng": {"torch": torch.get_rng_state(), "generators": [g.get_state() for g in gens]}})
        finally:
            if bar is not None:
                bar[0].stop()
        wall += time.perf_counter() - t0
        trained = m.export()
        result = FinetuneResult(metrics={}, history=history, out=out_dir, method=method)
        if rank == 0:
            metrics = {"method": method, "hardware": plan.hw.name, "metric": metric if isinstance(metric, str)
                       else getattr(metric, "__name__", "custom"),
                       "trainable_params": sum(p.numel() for p in params),
                       "total_params": _count(m.module()), "steps": step, "epochs_started": epoch + 1,
                       "wall_s": wall, "world_size": world, "lr": lr, "seed": seed,
                       "final_loss": history[-1]["loss"] if history else None}
            if evaluate:
                ranges = m.ranges() if callable(getattr(m, "ranges", None)) else None
                metrics.update(_evaluate(model, trained, plan, val, seeds, metric,
                                         {**getattr(m, "eval_options", {}), **(eval_options or {})},
                                         drift_times, ranges,
                                         getattr(m, "evaluate_deployed", None), physical))
            metrics["total_s"] = time.perf_counter() - t_start
            result.metrics = metrics
            if out_dir is not None:
                write_atomic(out_dir / METRICS, json_dumps(metrics, indent=2))
                _plot(out_dir / CURVES, history, method, plan.hw.name)
        return trained, result
    finally:
        if own_group:
            import torch.distributed as dist
            dist.destroy_process_group()


class _schedule:
    """Learning-rate factor per step: ``cosine`` decays from 1 to 0 over the run (the usual
    recipe for fine-tuning under noise), ``constant`` stays 1. A class, not a closure: the
    scheduler's state_dict then holds only numbers."""

    def __init__(self, kind: str, total: int) -> None:
        self.kind, self.total = kind, max(1, total)

    def __call__(self, step: int) -> float:
        if self.kind == "constant":
            return 1.0
        return 0.5 * (1.0 + math.cos(math.pi * min(step, self.total) / self.total))


def _count(module: nn.Module) -> int:
    seen: set[int] = set()
    n = 0
    for p in module.parameters():
        if id(p) not in seen:
            seen.add(id(p))
            n += p.numel()
    return n


def _evaluate(original: nn.Module, trained: nn.Module, plan: Any, val: _Data, seeds: int, metric: Any,
              options: dict[str, Any], drift_times: Iterable[float] | None,
              ranges: dict[str, Any] | None, custom: Any = None, physical: Any = None) -> dict[str, Any]:
    """digital (before and after training) and deployed (before and after, over ``seeds`` new
    chips) metrics on the evaluation data; a method that trained with fixed ranges (HWA) is
    evaluated with them (``deployed_after``) and recalibrated (``deployed_after_calibrated``).
    A method with its own ``evaluate_deployed(trained, batches, seeds, metric)`` (LoRA: the
    adapters beside the chip they were trained on) gives ``deployed_after`` itself; a physical
    system with ``evaluate(model, batches, seeds=, metric=)`` adds ``physical_before`` and
    ``physical_after``."""
    from analogc.finetune.evaluate import evaluate_deployed, metric_value, summary

    batches = list(val.data)
    chips = range(100, 100 + seeds)
    was = original.training
    plan_after = _plan_for(trained, plan, val.first)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        try:
            digital = metric_value(original.eval(), batches, metric, reference=original)
            digital_after = metric_value(trained.eval(), batches, metric, reference=original)
            before = evaluate_deployed(original, plan, batches, chips, metric, reference=original, **options)
            if callable(custom):
                after = custom(trained, batches, chips, metric)
            else:
                after = evaluate_deployed(trained, plan_after, batches, chips, metric, reference=original,
                                          drift_times=drift_times, ranges=ranges, **options)
            phys = None
            if physical is not None and callable(getattr(physical, "evaluate", None)):
                phys = (physical.evaluate(original, batches, seeds=chips, metric=metric),
                        physical.evaluate(trained, batches, seeds=chips, metric=metric))
            recal = evaluate_deployed(trained, plan_after, batches, chips, metric, reference=original,
                                      **options) if ranges else None
        finally:
            original.train(was)
    out = {"digital": summary([digital]), "digital_after": summary([digital_after]),
           "deployed_before": before, "deployed_after": after, "eval_seeds": list(chips),
           "eval_options": {k: v for k, v in options.items()},
           "eval_ranges": "trained" if ranges else "calibrated"}
    if recal is not None:
        out["deployed_after_calibrated"] = recal
    if phys is not None:
        out["physical_before"], out["physical_after"] = phys
    return out


def _plan_for(trained: nn.Module, plan: Any, first: Any) -> Any:
    """The plan itself when its weight layers are the trained model's (HWA, distillation); for
    a model whose structure the method changed (LoRA's peft wrapper), the same hardware's plan
    of the trained model, traced on the first evaluation batch (so adapters are placed as the
    compiler places them)."""
    mods = dict(trained.named_modules())
    paths = [op.module_path for op in plan.graph.ops() if op.name in plan.mappings
             and getattr(op.kind, "value", op.kind) == "mvm"]
    if all(p in mods for p in paths):
        return plan
    return _resolve_plan(trained, plan.hw, first)


def _plot(path: Path, history: list[dict[str, Any]], method: str, hw: str) -> None:
    """The training loss per step (and its running mean) as a PNG, written atomically."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    if history:
        s = [h["step"] for h in history]
        v = [h["loss"] for h in history]
        ax.plot(s, v, lw=0.8, alpha=0.5, label="loss")
        k = max(1, len(v) // 20)
        run = [sum(v[max(0, i - k + 1):i + 1]) / len(v[max(0, i - k + 1):i + 1]) for i in range(len(v))]
        ax.plot(s, run, lw=1.5, label=f"running mean ({k} steps)")
        ax.legend()
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    ax.set_title(f"{method} on {hw}")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    write_atomic(path, buf.getvalue())


__all__ = ["FinetuneResult", "finetune", "load_checkpoint", "save_checkpoint", "shard"]
