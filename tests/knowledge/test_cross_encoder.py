"""The cross-encoder as shipped: its weights' file keeps what training changed, and the
fine-tuned model reads an answering field above one about something else, in German, Spanish
and English."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from knowledge.cross_encoder.fields import field_text
from knowledge.cross_encoder.model import CrossEncoder, shipped_weights
from knowledge.cross_encoder.packed import dequantise_q4_0
from knowledge.cross_encoder.weights import load, quantise_q4_0, save


def test_q4_0_blocks_keep_each_weight_within_half_a_step() -> None:
    rng = np.random.default_rng(7)
    values = rng.normal(0.0, 0.01, size=(4, 64)).astype(np.float32)
    values[1] = 0.0  # a block of zeros has no scale to divide by
    back = dequantise_q4_0(quantise_q4_0(values), 4, 64)
    steps = np.abs(values.reshape(-1, 32)).max(axis=1) / 7.0
    error = np.abs(back - values).reshape(-1, 32).max(axis=1)
    assert (error <= steps / 2 + 1e-6).all()
    assert (back[1] == 0.0).all()


def test_the_file_holds_each_matrix_as_its_change_and_vectors_exactly(tmp_path: Path) -> None:
    rng = np.random.default_rng(8)
    base = {"w": rng.normal(0.0, 0.05, size=(8, 32)).astype(np.float32),
            "b": np.zeros(8, dtype=np.float32)}
    trained = {"w": base["w"] + rng.normal(0.0, 0.001, size=(8, 32)).astype(np.float32),
               "b": rng.normal(size=8).astype(np.float32),
               "head.weight": rng.normal(size=(1, 8)).astype(np.float32)}
    path = tmp_path / "weights.npz"
    save(path, trained, base, {"steps": 3})
    values, meta = load(path, base)
    assert meta == {"steps": 3}
    assert set(values) == set(trained)
    # The change is small, so its rounding is smaller still than the weights' own spread.
    assert np.abs(values["w"] - trained["w"]).max() < 0.001
    assert not np.array_equal(values["w"], base["w"])
    assert np.array_equal(values["b"], trained["b"])  # vectors and the head: exact
    assert np.array_equal(values["head.weight"], trained["head.weight"])
    with pytest.raises(ValueError, match="the base lacks"):
        load(path, {"b": base["b"]})


@pytest.fixture(scope="module")
def model() -> CrossEncoder:
    return CrossEncoder.shipped()[0]


def test_the_shipped_file_is_small_and_names_its_training(model: CrossEncoder) -> None:
    assert shipped_weights().stat().st_size < 16_000_000
    assert CrossEncoder.shipped()[1]["steps"] > 0


@pytest.mark.parametrize(("question", "answers", "other", "language"), [
    ("Wie schwer ist der Toaster ungefähr?", ("attributes.item_weight", "1,2 kg"),
     ("attributes.color", "Edelstahl gebürstet"), "de"),
    ("¿Qué material tiene la funda?", ("bullet_points[1]", "Funda de algodón orgánico, "
                                       "lavable a 40 grados"),
     ("bullet_points[2]", "Garantía del fabricante de 2 años"), "es"),
    ("Can I control the robot from my phone?", ("bullet_points[0]", "Control by app and "
                                                "voice assistant"),
     ("attributes.item_weight", "3.2 kg"), "en"),
])
def test_an_answering_field_reads_above_one_about_something_else(
        model: CrossEncoder, question: str, answers: tuple[str, str], other: tuple[str, str],
        language: str) -> None:
    right, wrong = model.scores(question, [field_text(*answers, language),
                                           field_text(*other, language)])
    assert right >= 0.5 > wrong, (right, wrong)
