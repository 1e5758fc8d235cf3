"""Write trained weights as the project ships them (``knowledge/cross_encoder/weights.py``).

    python -m evals.cross_encoder.export --weights OUT/cross_encoder.pt \\
        --out knowledge/data/cross_encoder.npz
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import torch
from rich.console import Console

from knowledge.cross_encoder.weights import save, shipped_weights


def export(weights: Path, out: Path) -> None:
    saved = torch.load(weights, weights_only=True)
    trained = {name: value.numpy() for name, value in saved["trainable"].items()}
    meta = {"steps": int(saved["steps"]), "seconds": round(float(saved["seconds"])),
            **{k: v for k, v in saved.items() if k in ("epochs", "seed", "rate_scale", "resumed")}}
    save(out, trained, meta)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.cross_encoder.export")
    parser.add_argument("--weights", type=Path, required=True, help="a training run's .pt")
    parser.add_argument("--out", type=Path, default=shipped_weights())
    args = parser.parse_args(argv)
    export(args.weights, args.out)
    Console(highlight=False).print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
