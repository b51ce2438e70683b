"""Training: GPU-side augmentation, packs, task-aligned assignment, loss, trainer.

Datasets are read by ``detector.datasets``, which ``detector val`` uses too.

Nothing here is needed to run a model; the desktop bundle leaves this package out.
"""
