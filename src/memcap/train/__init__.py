"""Trained capacity: the trainer, tasks, capacity search over an Optuna storage, and the
paper's Appendix H experiments."""
