"""The clipped-input finder of the deployed backward (analogc.sim.tile._clipped): the flat indices
of |x| > r, by scanning only the rows that hold any, against a plain scan of everything."""
import torch

from analogc.sim.tile import _clipped


def test_few_rows_and_many_rows_match_a_full_scan():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 50, 33, generator=g)
    for r in (3.0, 2.2, 0.5, 10.0):  # few rows, some rows, most rows (full-scan branch), none
        got = torch.sort(_clipped(x, r)).values
        want = (x.abs() > r).view(-1).nonzero().squeeze(1)
        assert torch.equal(got, want), r
    x[1, 7, 5] = -4.0  # a negative clip alone in its row is found
    assert int(x.view(-1)[_clipped(x, 3.5)].min()) == -4
