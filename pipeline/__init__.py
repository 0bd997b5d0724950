"""The whole-pipeline driver: runs the stages one after another, as a user would, and compares the results.

``pipeline.reproduce`` builds the prepared data (``datasets_prep``), trains, calibrates and
evaluates the six models (``scalp_models``) and writes one table per protocol (on unseen test
subjects, no seed column) and a seed-comparable table (the folder protocol on AI Hub Validation,
the only place the seed's numbers are compared). It sits above the stages because it uses all of
them: a stage that drove the others would have to import its neighbours and its successors, and
the stages would no longer be linked by their files on disk alone. It calls each stage only
through its public functions (``datasets_prep.build.build``, ``scalp_models.train.train``) and
reads only what they return or write.

    python -m pipeline reproduce --aihub-root ~/aihub216 --out reproduction
"""
