"""BatchNorm after a conv or linear is folded into its weight and bias before pricing and
deploy (issue 9, item 8); ``fold_batchnorm=False`` keeps it. Folded: the BatchNorm op costs
nothing, deploy programs w' = w g / sqrt(var + eps) and adds b' = (b - mean) g / sqrt(var + eps)
+ beta (torch.nn.utils.fusion.fuse_conv_bn_eval's formula)."""
import warnings

import pytest
import torch
from torch import nn

import analogc
from analogc.sim import deploy
from hw_models.digital import ops_per_element


def _model(seed=0):
    torch.manual_seed(seed)
    m = nn.Sequential(nn.Conv2d(3, 8, 3, bias=False), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(),
                      nn.Linear(8 * 6 * 6, 10), nn.BatchNorm1d(10))
    for bn in (m[1], m[5]):  # non-trivial statistics and affine parameters
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
        bn.weight.data.uniform_(0.5, 1.5)
        bn.bias.data.uniform_(-0.5, 0.5)
    return m.eval()


@pytest.fixture(scope="module")
def traced():
    m = _model()
    x = torch.randn(2, 3, 8, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = analogc.trace(m, (x,))
    return m, x, g


def _bn_ops(g):
    return [o for o in g.ops() if o.kind.value == "norm"]


def test_both_batchnorms_fold_into_their_products(traced):
    _, _, g = traced
    plan = analogc.compile(g, hw="pcm-hermes")
    bns = _bn_ops(g)
    assert len(bns) == 2
    assert {g[b].module_path for b in plan.folded} == {"1", "5"}
    assert {g[m].module_path for m in plan.folded.values()} == {"0", "4"}
    assert analogc.compile(g, hw="pcm-hermes", fold_batchnorm=False).folded == {}


def test_folded_batchnorm_costs_nothing_and_kept_costs_its_digital_ops(traced):
    _, _, g = traced
    fold = analogc.estimate(analogc.compile(g, hw="pcm-hermes"))
    keep = analogc.estimate(analogc.compile(g, hw="pcm-hermes", fold_batchnorm=False))
    bns = _bn_ops(g)
    t_fold, t_keep = fold.table.set_index("op"), keep.table.set_index("op")
    for b in bns:
        assert t_fold.loc[b.name, "energy_j"] == 0 and t_keep.loc[b.name, "energy_j"] > 0
    # hand formula: a kept norm does elements x ops_per_element digital ops
    ops = sum(b.elements * ops_per_element("norm", b.target) for b in bns)
    assert keep.counts["digital_op"] - fold.counts.get("digital_op", 0) == pytest.approx(ops)
    assert fold.summary["energy_j"] < keep.summary["energy_j"]


def test_deploy_programs_the_folded_weight_and_computes_the_same_function(traced):
    m, x, g = traced
    plan = analogc.compile(g, hw="ideal")
    am = deploy(m, plan, seed=0)
    assert not any(isinstance(mod, nn.BatchNorm2d | nn.BatchNorm1d) for mod in am.modules())
    bn = m[1]
    s = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    assert torch.allclose(am[0].weight, m[0].weight * s.view(-1, 1, 1, 1))
    assert torch.allclose(am[0].bias, bn.bias - bn.running_mean * s)
    bn = m[5]
    s = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    assert torch.allclose(am[4].bias, (m[4].bias - bn.running_mean) * s + bn.bias)
    with torch.no_grad():
        assert torch.allclose(am(x), m(x), rtol=1e-4, atol=1e-5)  # ideal tiles: exact
    assert isinstance(m[1], nn.BatchNorm2d) and m[0].bias is None  # the original is untouched


def test_keep_option_deploys_the_batchnorm(traced):
    m, x, g = traced
    am = deploy(m, analogc.compile(g, hw="ideal", fold_batchnorm=False), seed=0)
    assert isinstance(am[1], nn.BatchNorm2d) and isinstance(am[5], nn.BatchNorm1d)
    with torch.no_grad():
        assert torch.allclose(am(x), m(x), rtol=1e-4, atol=1e-5)


def test_a_batchnorm_whose_product_is_also_used_elsewhere_is_not_folded():
    class Res(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.bn = nn.Conv2d(4, 4, 3, padding=1), nn.BatchNorm2d(4)

        def forward(self, x):
            y = self.conv(x)
            return self.bn(y) + y

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = analogc.trace(Res().eval(), (torch.randn(1, 4, 5, 5),))
    assert analogc.compile(g, hw="pcm-hermes").folded == {}
