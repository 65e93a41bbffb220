"""API misuse is an AnalogcError that says what was expected, never a raw Python error
(issue 9, item 14). No model is traced: graphs are built by hand, deploy builds its plan from
the layers' shapes."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import analogc
from analogc.errors import AnalogcError
from analogc.ir import Graph


def _msg(f):
    with pytest.raises(AnalogcError) as e:
        f()
    return str(e.value)


TRACE = "trace: expected a torch.nn.Module, a zoo name, an .onnx path or 'module:factory', got {}"


@pytest.mark.parametrize("bad, name", [(42, "int"), (None, "NoneType"), (3.5, "float"),
                                       ([nn.Linear(2, 2)], "list")])
def test_trace_of_something_that_is_not_a_model(bad, name):
    assert _msg(lambda: analogc.trace(bad)) == TRACE.format(name)
    assert _msg(lambda: analogc.trace(bad, (torch.randn(2, 2),))) == TRACE.format(name)


def test_trace_takes_a_path_object(tmp_path):
    # a pathlib.Path is a model string (here: an .onnx path that does not exist)
    missing = tmp_path / "m.onnx"
    assert _msg(lambda: analogc.trace(missing)) == f"{missing}: no such file (expected an ONNX model file)"


def test_estimate_of_a_graph_instead_of_a_plan():
    g = Graph("m", "manual")
    assert _msg(lambda: analogc.estimate(g)) == "estimate: expected a Plan from analogc.compile, got Graph"
    assert _msg(lambda: analogc.estimate("pcm-hermes")) == "estimate: expected a Plan from analogc.compile, got str"


@pytest.mark.parametrize("seed", ["a", 1.5, True, [0]])
def test_deploy_seed_must_be_an_integer(seed):
    net = nn.Sequential(nn.Linear(8, 4))
    assert _msg(lambda: analogc.deploy(net, "pcm-hermes", seed=seed)) == \
        f"deploy: seed: expected an integer, got {seed!r}"


def test_deploy_of_something_that_is_not_a_model():
    assert _msg(lambda: analogc.deploy(42, "pcm-hermes", seed=0)) == \
        "deploy: expected a torch.nn.Module or an .onnx path, got int"


@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.bool])
def test_deployed_layer_refuses_integer_inputs(dtype):
    net = nn.Sequential(nn.Linear(8, 4))
    am = analogc.deploy(net, "pcm-hermes", seed=0)
    x = torch.ones(2, 8, dtype=dtype)
    assert _msg(lambda: am(x)) == f"layer 0: expected floating-point inputs, got {dtype}"
    assert am(x.float()).shape == (2, 4)  # the same values as floats run
