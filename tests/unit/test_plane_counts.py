"""The packed bit-plane counter of the statistical converter model (analogc.sim.tile._plane_counts)
against a plain unpacking of every plane: active rows per (plane, sample, row tile), two's
complement, padded last tile, tiles wider than 255 words (several byte-counter runs)."""
import pytest
import torch

from analogc.sim.tile import _plane_counts


def unpacked(xc: torch.Tensor, B: int, RT: int, rows: int) -> torch.Tensor:
    code = xc.to(torch.int64) & ((1 << B) - 1)
    code = torch.nn.functional.pad(code, (0, RT * rows - xc.shape[1]))
    planes = torch.stack([(code >> b) & 1 for b in range(B)])  # [B, M, RT*rows]
    return planes.view(B, xc.shape[0], RT, rows).sum(-1)


@pytest.mark.parametrize("B,K,rows", [(8, 3072, 512), (4, 700, 128), (8, 3072, 2304), (2, 40, 8), (6, 4100, 4096)])
def test_counts_match_unpacked_planes(B, K, rows):
    g = torch.Generator().manual_seed(B * K)
    lim = 2 ** (B - 1) - 1
    xc = torch.randint(-lim, lim + 1, (37, K), generator=g).float()
    xc[0] = lim  # every bit but the sign set
    xc[1] = -lim
    RT = -(-K // rows)
    got, qmax = _plane_counts(xc, B, RT, rows, RT * rows - K)
    assert got.shape == (B, 37, RT) and got.dtype == torch.int64
    assert torch.equal(got, unpacked(xc, B, RT, rows))
    # the hand count of one row: +lim on K rows sets planes 0..B-2 on every used row of a tile
    assert int(got[0, 0, 0]) == min(rows, K) and int(got[B - 1, 0, 0]) == 0
    # largest magnitude per tile: max(code, -code - 1) over the tile's rows (padding is 0)
    mag = torch.where(xc >= 0, xc, -xc - 1)
    want = torch.nn.functional.pad(mag, (0, RT * rows - K)).view(37, RT, rows).amax(-1)
    assert torch.equal(qmax, want) and float(qmax[0].min()) == lim
