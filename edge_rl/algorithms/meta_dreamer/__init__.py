"""Meta-Dreamer: discrete world model + RL^2 recurrent policy (see meta_dreamer.py)."""
