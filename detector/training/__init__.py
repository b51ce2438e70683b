"""Training: GPU-side augmentation, packs, task-aligned assignment, loss, trainer (datasets are read by detector.datasets).

Nothing here is needed to run a model; the desktop bundle leaves this package out.
"""
