"""The text side: loading a Hugging Face (or LSTM) classifier and its blocks (``classifier``,
``sites``), tokens and words (``words``, ``cleaning``), reference corpora and IMDB
(``corpus``, ``data``), the shipped models (``shipped``, ``models/``), the result type
(``explanation``), the attribution methods (``methods/``, IBA and its variants included),
the faithfulness metrics (``metrics/``) and layer scanning (``sweep``)."""
