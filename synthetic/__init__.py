"""Generated scalp pictures and an AI Hub-shaped miniature download: shared by every stage, owned by none.

- ``synthetic.render``: ``render_scalp(severities, rng)``, a synthetic microscope scalp close-up
  with the six symptoms drawn at AI Hub grades 0..3 (demo models, the photo check's fit, the
  app's reference pictures, tests);
- ``synthetic.simulate``: writes a miniature of the AI Hub download (``python -m datasets_prep
  simulate``), so the whole pipeline runs without the licensed data; ``synthetic.plan`` decides which
  images exist and where (or, with ``--labels-from``, ``synthetic.label_tables`` reads the real label
  tables in place and draws whole real subjects); ``synthetic.layers``/``raster`` are the renderer's steps;
- ``synthetic.scenes``: non-scalp pictures (package sample photos, procedural scenes) for the
  photo check's "is this a scalp close-up?" stage.

Nothing here is AI Hub data, and nothing here imports another stage: only ``scalp_core``.
"""
