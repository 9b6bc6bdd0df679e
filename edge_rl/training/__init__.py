"""Ray-side training: algorithm configs, the training loop, checkpoints and metrics."""
