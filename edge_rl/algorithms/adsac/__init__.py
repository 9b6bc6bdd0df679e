"""ADSAC: attention-diffusion soft actor-critic as a custom RLlib algorithm."""
