"""Training: datasets, GPU-side augmentation, task-aligned assignment, loss, trainer.

Nothing here is needed to run a model; the desktop bundle leaves this package out.
"""
