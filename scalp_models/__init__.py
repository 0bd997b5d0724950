"""Model creation, training, evaluation and serving for the six scalp symptoms.

Importing the package is cheap (no torch); import what you need from the module that holds it:

- ``scalp_models.diagnoser.ScalpDiagnoser``: the six models behind one call per image
  (``from_source``: a Hub namespace, a local models folder or ``"demo"``);
- ``scalp_models.diagnosis.Diagnosis`` and ``scalp_models.diagnosis.SymptomResult``: what it answers;
- ``scalp_models.hub_loading.ModelsUnavailableError`` and
  ``scalp_models.hub_loading.download_model_snapshots``: the one Hub download loop and its error;
- ``scalp_models.shared_preprocessing.decode_image``: any image input → upright RGB;
- ``scalp_models.onnx_backend.OnnxRunner``: the ONNX Runtime backend the diagnoser uses by default;
- ``scalp_models.modeling.create_model`` and ``scalp_models.modeling.fold_grayscale``: one image
  classifier per symptom spec;
- ``scalp_models.processing.create_image_processor``: the matching image processor;
- ``scalp_models.bases.resolve_base``: the starting weights (``DEFAULT_BASE``, ``OFFLINE_BASE``);
- ``scalp_models.lite0.lite0_imagenet_model``: offline ImageNet EfficientNet-Lite0 weights;
  ``scalp_models.lite0_features.lite0_features``: its pooled features through ONNX Runtime (the photo
  check and the domain check share it);
- ``scalp_models.novelty.NoveltyScorer``: the domain check (``novelty.json`` beside each model);
- ``scalp_models.explain``: Grad-CAM heatmaps of one model's answer ("Why?"), on the serving preprocessing;
- ``scalp_models.thresholds.choose_uncertain_threshold``: the per-model "uncertain" threshold rule;
- ``scalp_models.metrics.classification_metrics``: the reported numbers, with intervals over subjects;
- ``python -m scalp_models {train,evaluate,calibrate,demo,novelty}``: the training side's command line;
  ``python -m scalp_models.diagnoser --source demo scalp.jpg``: diagnose photos from a shell.
"""
