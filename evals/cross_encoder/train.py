"""Fine-tune the cross-encoder on the tune questions outside the bar slice.

Each question gives its answering fields (at most ``POSITIVES``) as positives and at most
``NEGATIVES`` of its other fields, drawn at random, as negatives: its own page's fields, so the
model learns to tell the field about the asked thing from its neighbours. The customers' and
the demo pages' questions (the only German and Spanish) are few beside the public ones and
are seen ``CUSTOMER_REPEATS`` times, each time with other negatives. The word embeddings stay frozen
(250k rows of 384: most of the model, and the languages the tune data lacks would drift).
Every forward pass rounds the layers' matrices to 4 bits as the C engine holds them
(``model.fake_q4_0``), so the weights learnt are the ones the product runs.

    python -m evals.cross_encoder.train --out OUT/cross_encoder.pt   # the shipped weights
    python -m evals.cross_encoder.export --weights OUT/cross_encoder.pt
    # a further pass over other negatives, at half the learning rate:
    python -m evals.cross_encoder.train --out OUT/cross_encoder_2.pt \
        --resume OUT/cross_encoder.pt --rate-scale 0.5 --steps 300 --seed 14

The shipped weights are three epochs at seed 13 (1,779 steps of 16 pairs): 27 minutes on
two cores. On two cores other processes share, one thread (``--threads 1``) is the faster
choice: two threads wait on each other whenever another process holds a core.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from rich.console import Console
from torch.nn.functional import binary_cross_entropy_with_logits

from evals.cross_encoder.questions import (
    Question,
    customer_questions,
    demo_questions,
    public_questions,
    tune_split,
)
from knowledge.cross_encoder.model import CrossEncoder

POSITIVES, NEGATIVES = 2, 4
CUSTOMER_REPEATS = 3
BATCH = 16
ENCODER_RATE, HEAD_RATE = 3e-5, 1e-3
WARMUP = 0.06
SEED = 13

# Plain lines, never wrapped: they are read as logs and tables.
_out = Console(highlight=False, markup=False, soft_wrap=True)


@dataclass(frozen=True, slots=True)
class Pair:
    question: str
    field: str
    label: float


def pairs_of(questions: Sequence[Question], rng: random.Random) -> list[Pair]:
    out: list[Pair] = []
    for q in questions:
        repeats = CUSTOMER_REPEATS if q.source != "public" else 1
        positives = [f for f in q.fields if f.ref in q.answers]
        negatives = [f for f in q.fields if f.ref not in q.answers]
        for _ in range(repeats):
            out += [Pair(q.question, f.text, 1.0)
                    for f in rng.sample(positives, min(POSITIVES, len(positives)))]
            out += [Pair(q.question, f.text, 0.0)
                    for f in rng.sample(negatives, min(NEGATIVES, len(negatives)))]
    return out


def batches(pairs: list[Pair], rng: random.Random) -> list[list[Pair]]:
    """Shuffled batches of pairs of similar length (less padding, the same mix of labels)."""
    rng.shuffle(pairs)
    out: list[list[Pair]] = []
    for start in range(0, len(pairs), BATCH * 16):
        window = sorted(pairs[start:start + BATCH * 16],
                        key=lambda p: len(p.question) + len(p.field))
        out += [window[i:i + BATCH] for i in range(0, len(window), BATCH)]
    rng.shuffle(out)
    return out


def train(out: Path, epochs: int, threads: int, limit: int | None,
          resume: Path | None = None, rate_scale: float = 1.0, seed: int = SEED) -> None:
    """``resume``: start from weights an earlier run wrote; give it another ``seed`` for
    other negatives."""
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    rng = random.Random(seed)
    questions = tune_split(public_questions("tune", as_cases=False), "train") + \
        tune_split(customer_questions("tune"), "train") + demo_questions()
    model = CrossEncoder()
    if resume:
        model.load_values(torch.load(resume, weights_only=True)["trainable"])
    model.freeze_embeddings()
    head = list(model.head.parameters())
    encoder = [p for p in model.encoder.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW([{"params": encoder, "lr": ENCODER_RATE * rate_scale},
                                   {"params": head, "lr": HEAD_RATE * rate_scale}],
                                  weight_decay=0.01)
    plan = [batches(pairs_of(questions, rng), rng) for _ in range(epochs)]
    steps = sum(len(p) for p in plan) if limit is None else min(limit, sum(len(p) for p in plan))
    warmup = max(1, int(WARMUP * steps))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: min((s + 1) / warmup, max(0.0, (steps - s) / (steps - warmup))))
    _out.print(f"{len(questions)} questions, {steps} steps of {BATCH} pairs")
    started, step, running = time.monotonic(), 0, 0.0
    model.train()
    for epoch_batches in plan:
        for batch in epoch_batches:
            if step >= steps:
                break
            ids, mask = model.batch([p.question for p in batch], [p.field for p in batch])
            labels = torch.tensor([p.label for p in batch])
            loss = binary_cross_entropy_with_logits(model(ids, mask), labels)
            loss.backward()  # type: ignore[no-untyped-call]
            torch.nn.utils.clip_grad_norm_(encoder + head, 1.0)
            optimiser.step()
            schedule.step()
            optimiser.zero_grad()
            step += 1
            value = loss.item()
            running = 0.98 * running + 0.02 * value if step > 1 else value
            if step % 25 == 0:
                _out.print(f"step {step}/{steps} loss {running:.3f} "
                      f"{time.monotonic() - started:.0f}s")
    seconds = time.monotonic() - started
    torch.save({"trainable": model.trainable(), "seconds": seconds, "steps": steps,
                "epochs": epochs, "seed": seed, "rate_scale": rate_scale,
                "resumed": resume is not None}, out)
    _out.print(f"trained {steps} steps in {seconds:.0f}s; wrote {out}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.cross_encoder.train")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=None, help="stop after this many steps")
    parser.add_argument("--resume", type=Path, default=None,
                        help="start from the weights of an earlier run")
    parser.add_argument("--rate-scale", type=float, default=1.0,
                        help="multiply the learning rates (a resumed run takes smaller steps)")
    parser.add_argument("--seed", type=int, default=SEED,
                        help="draws the negatives and the order (a resumed pass: another one)")
    args = parser.parse_args(argv)
    train(args.out, args.epochs, args.threads, args.steps, args.resume, args.rate_scale,
          args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
