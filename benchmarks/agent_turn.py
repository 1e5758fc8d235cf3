"""Latency of one agent turn over the demo data, beside the single-embedding floor.

Each turn is a real ``Agent.handle`` call: SQLite writes, intent model, returns engine, and for
product questions the index (one query embedding). Run as ``python -m benchmarks.agent_turn``.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from datetime import time as day_time
from pathlib import Path
from typing import Any

from rich.progress import Progress

from agent import understanding
from agent.core import Agent
from agent.db import Store, make_engine
from agent.messages import InboundMessage
from agent.understanding import classify_intent, detect_language
from base.blas import one_blas_thread
from base.settings import Settings
from knowledge.embeddings import load_embeddings
from knowledge.index import KnowledgeIndex
from seller.ingest import DEMO_DATA_DAY, demo_data

# (order id, customer email, message): every kind of turn the service sees.
TURNS: list[tuple[str, str, str]] = [
    ("028-4306213-9513237", "miriam.koch@example.de", "Wo ist meine Bestellung?"),
    ("028-4306213-9513237", "miriam.koch@example.de", "Darf die Bettwäsche in den Trockner?"),
    ("028-4306213-9513237", "miriam.koch@example.de",
     "Ich möchte die Bettwäsche zurückgeben, ich brauche sie nicht mehr."),
    ("028-7606645-0237256", "ursula.lehmann@example.de",
     "Der Stecker gefällt mir nicht, ich will ihn zurückgeben."),
    ("171-1186829-5973794", "lucia.garcia@example.es", "¿Qué medida tienen las sábanas?"),
    ("171-1186829-5973794", "lucia.garcia@example.es", "¿Cuándo me devuelven el dinero?"),
    ("111-0182947-4168020", "michael.rodriguez@example.com", "How long does the battery last?"),
    ("111-0182947-4168020", "michael.rodriguez@example.com",
     "Does it fit a Petzl bicycle helmet mount?"),
    ("111-0182947-4168020", "michael.rodriguez@example.com", "Where is my package?"),
    ("026-3123995-6747954", "amelia.khan@example.co.uk",
     "I'd like to return the magnetic tiles, my son doesn't like them."),
    ("028-1343574-7969438", "lea.zimmermann@example.de", "Bitte stornieren Sie die Bestellung."),
    ("028-9644962-5370824", "jonas.krueger@example.de", "Ich brauche eine Rechnung."),
]


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def measure(rounds: int = 20) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as scratch:
        settings = Settings(data_dir=Path(scratch), _env_file=None)  # type: ignore[call-arg]
        # The model on the threads `csba serve` gives it (one), so a message is embedded
        # beside its storing as in the server (KnowledgeIndex.prepare).
        index = KnowledgeIndex.open(settings, embeddings=load_embeddings(
            settings.embedding_model, batch_size=settings.embedding_batch_size,
            threads=settings.serve_torch_threads))
        data = demo_data()
        index.sync(data.pages)
        store = Store(make_engine(settings.resolved_database_url))
        store.save(sellers=data.sellers, orders=data.orders, pages=data.pages)
        agent = Agent(store, index, portal_url="http://127.0.0.1:8000/seller")
        # The turns happen on the demo data's own day, whatever the date of the run.
        received_at = datetime.combine(DEMO_DATA_DAY, day_time(10), tzinfo=UTC)
        intent_model = _intent_model_cost([text for _, _, text in TURNS])
        classify_intent("warm up", "en")
        detect_language("warm up the detector", "en")
        one_blas_thread()  # as the server runs its turns (base/blas.py)
        queries = [text for _, _, text in TURNS]
        for q in queries:  # warm the embedding model
            index.dense.embeddings.embed_query(q)
        floor: list[float] = []
        for _ in range(rounds):
            for q in queries:
                started = time.perf_counter()
                index.dense.embeddings.embed_query(q)
                floor.append((time.perf_counter() - started) * 1000)
        latencies: dict[str, list[float]] = {}
        with Progress(transient=True) as bar:
            task = bar.add_task("agent turns", total=rounds * len(TURNS))
            for n in range(rounds):
                for i, (order_id, email, text) in enumerate(TURNS):
                    msg = InboundMessage(
                        channel="email", sender=email, text=f"{text} ({order_id})",
                        thread_key=f"bench-{n}-{i}", received_at=received_at,
                        verified_contact=email,
                        provider_message_id=f"bench-{n}-{i}")
                    started = time.perf_counter()
                    reply = agent.handle(msg)
                    latencies.setdefault(reply.intent, []).append(
                        (time.perf_counter() - started) * 1000)
                    bar.advance(task)
        index.close()
    every = [v for values in latencies.values() for v in values]
    return {
        "turns": len(every),
        "p50_ms": statistics.median(every), "p95_ms": _percentile(every, 0.95),
        "floor_p50_ms": statistics.median(floor),
        "by_intent_p95_ms": {k: _percentile(v, 0.95) for k, v in sorted(latencies.items())},
        **intent_model,
    }


def _intent_model_cost(texts: list[str]) -> dict[str, float]:
    """CPU time to train the intent model (once per process) and to classify one message."""
    understanding._intent_model.cache_clear()
    started = time.process_time()
    understanding._intent_model()
    training = time.process_time() - started
    durations = []
    for _ in range(20):
        for text in texts:
            started = time.process_time()
            classify_intent(text, "de")
            durations.append((time.process_time() - started) * 1000)
    return {"intent_training_cpu_s": training,
            "intent_classification_cpu_p50_ms": statistics.median(durations)}


if __name__ == "__main__":
    json.dump(measure(), sys.stdout, indent=2)
    sys.stdout.write("\n")
