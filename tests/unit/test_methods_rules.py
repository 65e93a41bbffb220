"""The update rules and counters of analogc.methods against hand formulas and independent
computations (no chip: plain torch, scikit-learn)."""
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from analogc.finetune.physical import CallableSystem
from analogc.methods.base import Counted, Tracker, mlp
from analogc.methods.dfa import dfa_grads
from analogc.methods.elm import solve_readout
from analogc.methods.fd import FiniteDifferences
from analogc.methods.spsa import SPSA
from analogc.methods.tasks import recall


def test_dfa_with_the_transposed_forward_weights_is_backprop():
    """With feedback = W2 (not random), DFA's hidden delta is backprop's: the gradients equal
    autograd's of the cross-entropy."""
    torch.manual_seed(0)
    m = mlp(6, 5, 3, seed=1)
    x, y = torch.randn(7, 6), torch.randint(0, 3, (7,))
    F.cross_entropy(m(x), y).backward()
    want = [p.grad.clone() for p in m.parameters()]
    with torch.no_grad():
        a1 = m[0](x)
        out = m[2](torch.relu(a1))
    dfa_grads(m, x, y, out, a1, m[2].weight.detach())
    for g, w in zip((p.grad for p in m.parameters()), want):
        assert torch.allclose(g, w, atol=1e-6)


def test_elm_solve_matches_scikit_learn():
    from sklearn.linear_model import LinearRegression
    g = torch.Generator().manual_seed(0)
    f = torch.rand(50, 6, generator=g)
    y = torch.randint(0, 4, (50,), generator=g)
    tr = Tracker(recall(), 0.8, 0.0)
    w, b = solve_readout(f, y, 4, tr)
    lr = LinearRegression().fit(f.double().numpy(), F.one_hot(y, 4).double().numpy())
    assert torch.allclose(f @ w.T + b, torch.tensor(lr.predict(f.double().numpy())).float(), atol=1e-5)
    assert tr.solves == 1 and tr.digital_macs == 50 * 7 * 7 + 7 ** 3


class Linear:
    """A fake query interface: the loss is linear in θ, L = g·θ."""

    def __init__(self, g):
        self.g = g
        self.theta = torch.zeros_like(g)
        self.n = g.numel()
        self.calls = 0

    def loss(self, theta, batch):
        self.calls += 1
        return float(self.g @ theta)


def test_finite_differences_and_spsa_on_a_linear_loss():
    g = torch.tensor([0.5, -1.0, 2.0, 0.25], dtype=torch.float64)
    q = Linear(g)
    fd = FiniteDifferences().estimate(q, None, None)
    assert torch.allclose(fd, g, atol=1e-9) and q.calls == FiniteDifferences().queries_per_step(4) == 5
    q = Linear(g)
    gen = torch.Generator().manual_seed(3)
    est = SPSA().estimate(q, None, gen)
    delta = torch.randint(0, 2, (4,), generator=torch.Generator().manual_seed(3)).float() * 2 - 1
    assert torch.allclose(est.double(), (g @ delta.double()) * delta.double(), atol=1e-6)  # (L+ - L-)/2c · Δ
    assert q.calls == 2


def test_counted_passes_samples_programming_and_energy():
    m = mlp(4, 3, 2, seed=0)
    n = sum(p.numel() for p in m.parameters())
    tr = Tracker(recall(), 0.8, 0.0)
    sysm = CallableSystem(lambda model, batch: model(batch[0]))
    c = Counted(sysm, tr, SimpleNamespace(sample_j=2.0, program_j=10.0))
    x = torch.randn(5, 4)
    c.forward(m, (x,))                       # first programming: all weights
    c.forward(m, (x,))                       # nothing changed: no programming
    with torch.no_grad():
        m[2].bias.add_(1.0)                  # 2 of n weights change
    c.forward(m, (x[:3],))
    assert tr.passes == 3 and tr.samples == 13
    assert tr.programs == pytest.approx(1 + 2 / n, rel=1e-12, abs=0)
    assert tr.phys_j == pytest.approx(13 * 2.0, rel=1e-12, abs=0)
    assert tr.program_j == pytest.approx(10.0 * (1 + 2 / n), rel=1e-12, abs=0)
    tr.checkpoint(lambda: float(c.forward(m, (x,)).shape[0] == 5))  # evaluation: not counted
    assert tr.passes == 3 and tr.curve[-1]["accuracy"] == 1.0
