"""A message's e5 vectors, each embedded once per turn.

A turn reads one message several ways by meaning: its intent, the return reason it states,
how close it lies to an ordered product, and the product search. All of them read the same
text (``meaning_text``), so with e5 as the index's model they share one vector: the index's
own query vector, which the index embeds (in the server, in a model process of its own on the
other core) and keeps for the search that follows. A return reason's clauses, read one by
one, are embedded here, and kept beside the message's for the rest of its turn: a reason may
be read twice in a turn (whether a question states a problem at all, then the problem's own
reason) and each clause costs an embedding.

Nothing outlives the turn: ``forget`` drops the message's vector and its clauses' when its
turn ends, so a repeated message is embedded again and no customer text stays in memory.
"""

from __future__ import annotations

import numpy as np

from agent.meaning import Vector, embed, unit_rows
from agent.understanding import meaning_text
from knowledge.embeddings import is_e5
from knowledge.retriever import Retriever


class MessageVectors:
    """The ``agent.meaning.Embed`` of the agent's turns, over the search index's model."""

    def __init__(self, index: Retriever) -> None:
        self.index = index
        # Another model's vectors are not e5's: then every text is embedded here.
        self.shared = is_e5(index.model_name)
        # The clauses' vectors by the message they were read from, until its turn ends. Turns
        # run concurrently on one agent: each message forgets only its own.
        self._clauses: dict[str, dict[str, Vector]] = {}

    def __call__(self, texts: list[str]) -> Vector:
        """Unit e5 vectors of ``texts``, the message's ``meaning_text`` first (as
        ``classify_intent`` and ``extract_return_reason`` ask): the message's is the index's
        query vector, the others (a return reason's clauses) are embedded here."""
        if not texts or not self.shared:
            return embed(texts)
        message, *clauses = texts
        unit = unit_rows([self.index.query_vector(message)])
        if not clauses:
            return unit
        kept = self._clauses.setdefault(message, {})
        new = [clause for clause in dict.fromkeys(clauses) if clause not in kept]
        if new:
            kept.update(zip(new, embed(new), strict=True))
        vectors: Vector = np.vstack([unit, *(kept[clause] for clause in clauses)])
        return vectors

    def forget(self, text: str) -> None:
        """The message's turn has ended: drop the vectors kept for it."""
        message = meaning_text(text)
        self.index.forget(message)
        self._clauses.pop(message, None)
