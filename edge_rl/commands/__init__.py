"""Sub-commands of the ``edge-rl`` console script."""
