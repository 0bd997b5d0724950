"""The data-preparation stage: an AI Hub '유형별 두피 이미지' download → ``prepared/`` (docs/ARCHITECTURE.md).

``python -m datasets_prep build`` (:mod:`datasets_prep.build`) runs the steps in order:
:mod:`~datasets_prep.discovery` (split folders and ``[원천]``/``[라벨]`` sources),
:mod:`~datasets_prep.indexing` with :mod:`~datasets_prep.labels` (one record per unique image),
:mod:`~datasets_prep.decoding` (every image decoded once, in every stored size),
:mod:`~datasets_prep.splits` with :mod:`~datasets_prep.subjects` (train/validation/test by subject,
per protocol), :mod:`~datasets_prep.writing` (the per-symptom ``DatasetDict``s; the evaluation
splits keep the original image bytes) and :mod:`~datasets_prep.report`. ``python -m datasets_prep
simulate`` runs :mod:`synthetic.simulate`, a miniature download for work without the licence
(``--labels-from`` draws it from real label tables, read in place).
Pushing a prepared folder to the Hub is ``python -m hub_upload dataset``.
"""
