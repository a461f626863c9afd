"""features: point-in-time payer histories, labels and the synthetic ledger.

Pure functions of :class:`ledger.frames.LedgerFrames`; nothing here opens the database.
- :func:`features.synth.generate`: a synthetic ledger with documented payer behaviours;
- :func:`features.pipeline.build_features`: one row of features per invoice, point in time;
- :func:`features.labels.build_labels`: days late, late, severe, with right-censoring;
- :data:`features.registry.FEATURES`: what each feature means, in French and English.
"""
