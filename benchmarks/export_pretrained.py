"""Export the trained test transformers with their evaluation data, for a run outside analogc
(an aihwkit validation on the very same weights).

    python benchmarks/export_pretrained.py [--out PATH]

Writes one torch file (default ``.cache/analogc-tests/export/pretrained_transformers.pt``) and
an ``.npz`` beside it with the same arrays, holding:

- ``encoder`` / ``decoder``: ``{"class", "config" (a transformers config dict), "state_dict",
  "heldout_loss"}`` (encoder: the deployed ``BertModel`` without pooler; decoder:
  ``GPT2LMHeadModel``); rebuild with ``tests/pretrained.py``'s :func:`load_exported`;
- ``calibration_input_ids`` [n_calib, seq] and ``heldout_input_ids`` [n_eval, seq] (int64);
- ``digital_pooled`` (the encoder's mean-pooled last hidden states of the held-out batch) and
  ``digital_perplexity`` (the decoder's on it): the references the figures are measured against;
- ``settings``: how analogc measures (deploy seed, batch sizes), so the same metric applies.

The npz flattens the state dicts as ``encoder/<name>`` and ``decoder/<name>`` and holds the
configs as JSON strings (``encoder_config_json``, ``decoder_config_json``).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import pretrained as P  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    out = P.export(args.out)
    print(f"wrote {out} and {out.with_suffix('.npz')}")


if __name__ == "__main__":
    main()
