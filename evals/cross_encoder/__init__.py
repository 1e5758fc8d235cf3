"""Training and measuring the cross-encoder (``knowledge/cross_encoder/``).

``check`` compares the torch model read from the packed e5 with the C engine, ``train``
fine-tunes it on the tune parts, ``export`` writes the weights the project ships
(``knowledge/data/cross_encoder.npz``), ``measure`` reads it alone as the answer decision on
the held-back parts.
"""
