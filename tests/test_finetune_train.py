"""analogc.finetune's loop: resume continues to the same weights bit for bit (CPU), and two
gloo processes on halves of each batch match one process on the whole batch."""
import os
import socket

import pytest
import torch
from torch import nn

import analogc
import hw_models
from analogc.errors import AnalogcError
from analogc.finetune.data import digits_tensors


@pytest.fixture(autouse=True)
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))


def _plan(model, hw):
    from analogc.frontends.modules import weight_layers_graph
    return analogc.compile(weight_layers_graph(model), hw=hw)


def _loader():
    """Real data (scikit-learn digits), shuffled every epoch by a DataLoader: 10 batches of 32."""
    x, y, _, _ = digits_tensors()
    ds = torch.utils.data.TensorDataset(x[:320], y[:320])
    return torch.utils.data.DataLoader(ds, batch_size=32, shuffle=True)


class Stop(Exception):
    pass


def _run(out, stop_at=None, **kw):
    calls = [0]

    def loss_fn(outputs, batch):
        calls[0] += 1
        if stop_at is not None and calls[0] > stop_at:  # the first call checks batch 0
            raise Stop()
        return torch.nn.functional.cross_entropy(outputs, batch[1])

    m = _model()
    return analogc.finetune(m, _plan(m, "pcm-hermes"), _loader(), steps=14, checkpoint_every=4, out=out,
                            loss_fn=loss_fn, progress=False, evaluate=False, lr=3e-3, **kw)


def test_resume_reaches_the_uninterrupted_weights_bit_for_bit(tmp_path):
    full, res_full = _run(tmp_path / "a")
    with pytest.raises(Stop):
        _run(tmp_path / "b", stop_at=1 + 10)  # dies at step 10 (checkpoint of step 8, epoch 0 ended at 10)
    ck = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=True)
    assert ck["step"] == 8
    resumed, res = _run(tmp_path / "b", resume=True)
    assert res.metrics["steps"] == 14
    for (k, a), (_, b) in zip(full.state_dict().items(), resumed.state_dict().items()):
        assert torch.equal(a, b), k
    assert [h["loss"] for h in res.history] == [h["loss"] for h in res_full.history]
    # the weights moved (equal runs that did nothing would pass the above)
    assert float((full[0].weight - _model()[0].weight).abs().max()) > 1e-3


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _deterministic_hw():
    """PCM programming noise (fresh draws every step, the same chip on every rank), DAC and ADC
    quantization and clipping, learned ranges; no per-MVM noise, exact ADC rounding: the forward
    is a function of the weights, so one and two processes must agree."""
    return hw_models.load("pcm-hermes", **{"noise.out_noise": 0, "noise.read_noise": 0})


def _data64():
    x, y, _, _ = digits_tensors()
    return [(x[i:i + 64], y[i:i + 64]) for i in range(0, 384, 64)]


def _train(world=1):
    m = _model()
    trained, res = analogc.finetune(m, _plan(m, _deterministic_hw()), _data64(), steps=8, lr=3e-3, progress=False,
                                    evaluate=False, converter_passes="recombined")
    return trained, res


def _worker(rank, world, port, out):
    import torch.distributed as dist
    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        trained, res = _train(world)
        if rank == 0:
            torch.save({"state": trained.state_dict(), "losses": [h["loss"] for h in res.history],
                        "world": res.metrics["world_size"]}, out)
    finally:
        dist.destroy_process_group()


def test_two_gloo_processes_match_one_process(tmp_path):
    single, res = _train()
    out = str(tmp_path / "ddp.pt")
    torch.multiprocessing.spawn(_worker, args=(2, _free_port(), out), nprocs=2, join=True)
    got = torch.load(out, weights_only=True)
    assert got["world"] == 2
    for k, v in single.state_dict().items():
        torch.testing.assert_close(got["state"][k], v, rtol=1e-4, atol=1e-5, msg=k)
    assert got["losses"] == pytest.approx([h["loss"] for h in res.history], rel=1e-4)
    # the weights moved (a test of equality between two runs that did nothing would pass)
    assert float((single[0].weight - _model()[0].weight).abs().max()) > 1e-3


def test_a_batch_smaller_than_the_processes_is_one_line():
    from analogc.finetune.trainer import shard
    with pytest.raises(AnalogcError, match="a batch of 1 row.* cannot be split over 2 processes"):
        shard(torch.zeros(1, 3), 0, 2)
    a, b = shard((torch.arange(6).view(3, 2), torch.arange(3)), 0, 2), shard((torch.arange(6).view(3, 2), torch.arange(3)), 1, 2)
    assert a[1].tolist() == [0, 1] and b[1].tolist() == [2]
