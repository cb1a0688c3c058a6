"""Training, in separate pieces a single run, an ensemble, a distributed run or a fine-tuning
run can each put together: recipes (torch-free, for --help), networks, augmentation, the state
of a run, one epoch, validation, checkpoints, and the run that exports a model.

This file imports nothing, so `digitrec.training.recipes` stays free of torch.
"""
