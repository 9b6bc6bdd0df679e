"""Beta schedules of the diffusion actor and the constants of its reverse DDPM step.

Pure functions on float64 tensors; ``DiffusionActor`` turns them into float32 buffers once.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch


def _check_steps(num_steps: int) -> None:
    if num_steps < 1:
        raise ValueError(f"num_steps={num_steps}: a diffusion chain needs >= 1 step")


def vp_beta_schedule(num_steps: int, beta_min: float = 0.1, beta_max: float = 10.0) -> torch.Tensor:
    """Variance-preserving schedule of D2SAC/ADSAC, float64 (num_steps,).

    beta_i = 1 - exp(-beta_min/N - 0.5 (beta_max - beta_min)(2i - 1)/N^2), i = 1..N.
    For N = 5: 0.1959, 0.4588, 0.6358, 0.7549, 0.8350.
    """
    _check_steps(num_steps)
    n = float(num_steps)
    i = torch.arange(1, num_steps + 1, dtype=torch.float64)
    return 1.0 - torch.exp(-beta_min / n - 0.5 * (beta_max - beta_min) * (2.0 * i - 1.0) / n**2)


def linear_beta_schedule(
    num_steps: int, beta_start: float = 1e-4, beta_end: float = 2e-2
) -> torch.Tensor:
    """Linear schedule of Ho et al. (2020), float64 (num_steps,) from beta_start to beta_end."""
    _check_steps(num_steps)
    return torch.linspace(beta_start, beta_end, num_steps, dtype=torch.float64)


def cosine_beta_schedule(num_steps: int, s: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    """Cosine schedule of Nichol & Dhariwal (2021), float64 (num_steps,), clipped to max_beta.

    alpha_bar(k) = cos^2(((k/N) + s)/(1 + s) * pi/2) / alpha_bar(0), beta_k = 1 - alpha_bar(k) /
    alpha_bar(k-1).
    """
    _check_steps(num_steps)
    k = torch.arange(num_steps + 1, dtype=torch.float64) / num_steps
    alpha_bar = torch.cos((k + s) / (1.0 + s) * math.pi * 0.5) ** 2
    alpha_bar = alpha_bar / alpha_bar[0]
    return (1.0 - alpha_bar[1:] / alpha_bar[:-1]).clamp(0.0, max_beta)


BETA_SCHEDULES: dict[str, Callable[[int], torch.Tensor]] = {
    "vp": vp_beta_schedule,
    "linear": linear_beta_schedule,
    "cosine": cosine_beta_schedule,
}


@dataclass(frozen=True)
class ReverseStepCoefficients:
    """Per-step constants of the reverse DDPM step, float64 (N,), index i = step i (0 = last).

    x_{i-1} = x_coef[i] * x_i - eps_coef[i] * eps(x_i, i) + noise_std[i] * z, noise_std[0] = 0.
    """

    x_coef: torch.Tensor
    eps_coef: torch.Tensor
    noise_std: torch.Tensor


def reverse_step_coefficients(betas: torch.Tensor) -> ReverseStepCoefficients:
    """Fold x0 = (x_i - sqrt(1 - abar_i) eps) / sqrt(abar_i) into the DDPM posterior mean
    mu = c1_i x0 + c2_i x_i, c1_i = beta_i sqrt(abar_{i-1}) / (1 - abar_i),
    c2_i = (1 - abar_{i-1}) sqrt(alpha_i) / (1 - abar_i); std = sqrt(beta_i (1 - abar_{i-1}) /
    (1 - abar_i)), and no noise on the last step (i = 0).
    """
    betas = betas.to(torch.float64)
    alphas = 1.0 - betas
    abar = torch.cumprod(alphas, dim=0)
    abar_prev = torch.cat([torch.ones(1, dtype=torch.float64), abar[:-1]])
    c1 = betas * abar_prev.sqrt() / (1.0 - abar)
    c2 = (1.0 - abar_prev) * alphas.sqrt() / (1.0 - abar)
    noise_std = (betas * (1.0 - abar_prev) / (1.0 - abar)).sqrt()
    noise_std[0] = 0.0
    return ReverseStepCoefficients(
        x_coef=c1 / abar.sqrt() + c2,
        eps_coef=c1 * (1.0 / abar - 1.0).sqrt(),
        noise_std=noise_std,
    )
