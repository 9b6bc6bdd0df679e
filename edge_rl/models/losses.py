"""Loss math of discrete diffusion SAC (D2SAC/ADSAC) as pure functions on tensors.

An update, in the reference's order (see the spec shared/specs/adsac-algorithm.md)::

    V(s')   = soft_state_value(pi_target(s'), Q1'(s'), Q2'(s'))       # no entropy term (ref.)
    y       = n_step_targets(r_{t..t+n-1}, done_{t..t+n-1}, gamma, V(s_{t+n}))
    critic  : critic_loss(Q1(s, a), Q2(s, a), y)
    actor   : actor_loss(pi(s), Q1(s), Q2(s), alpha)
    alpha   : temperature_loss(log_alpha, H(pi(s)), target_entropy(|A|))  # learned-alpha option
    targets : polyak_update(target, source, tau)

Nothing here holds state or optimisers, so an RLlib Learner (or a test) can call them directly.
"""

from __future__ import annotations

import math

import torch
from torch import nn

# Probabilities below this count as zero inside log(), so that p log p -> 0 with a finite
# gradient when softmax underflows.
_TINY = 1e-12


def categorical_entropy(probs_BA: torch.Tensor) -> torch.Tensor:
    """H(pi)_B = -sum_a pi(a) log pi(a)."""
    return -(probs_BA * probs_BA.clamp_min(_TINY).log()).sum(dim=-1)


def soft_state_value(
    probs_BA: torch.Tensor,
    q1_BA: torch.Tensor,
    q2_BA: torch.Tensor,
    alpha: float | torch.Tensor = 0.0,
) -> torch.Tensor:
    """V_B = sum_a pi(a) [min(Q1, Q2)(a) - alpha log pi(a)].

    Args:
        probs_BA: policy probabilities (of the target actor when bootstrapping).
        q1_BA, q2_BA: the twin Q values of every action (of the target critics).
        alpha: entropy temperature of the target; 0 (the reference) drops the entropy term.
    """
    assert probs_BA.shape == q1_BA.shape == q2_BA.shape, (probs_BA.shape, q1_BA.shape, q2_BA.shape)
    value_B = (probs_BA * torch.minimum(q1_BA, q2_BA)).sum(dim=-1)
    if isinstance(alpha, torch.Tensor) or alpha != 0.0:
        value_B = value_B + alpha * categorical_entropy(probs_BA)
    return value_B


def n_step_targets(
    rewards_BN: torch.Tensor,
    dones_BN: torch.Tensor,
    gamma: float,
    bootstrap_value_B: torch.Tensor,
) -> torch.Tensor:
    """n-step returns, truncated at episode ends.

    y = sum_{k<n} gamma^k r_k [no done before k] + gamma^n V(s_{t+n}) [no done in the n steps].
    A done at step k keeps r_k and drops every later reward and the bootstrap.

    Args:
        rewards_BN: rewards r_t, ..., r_{t+n-1} (what follows a done is ignored).
        dones_BN: terminated flags of the same steps (bool or 0/1).
        gamma: discount in [0, 1].
        bootstrap_value_B: V(s_{t+n}), e.g. from ``soft_state_value`` of the target networks.
    """
    if not 0.0 <= gamma <= 1.0:
        raise ValueError(f"gamma={gamma}: must be in [0, 1]")
    assert rewards_BN.shape == dones_BN.shape and rewards_BN.dim() == 2, (
        rewards_BN.shape,
        dones_BN.shape,
    )
    assert bootstrap_value_B.shape == rewards_BN.shape[:1], bootstrap_value_B.shape
    n = rewards_BN.shape[1]
    alive_BN = 1.0 - dones_BN.to(rewards_BN.dtype)
    alive_after_BN = torch.cumprod(alive_BN, dim=1)  # no done up to and including step k
    alive_before_BN = torch.cat([torch.ones_like(alive_BN[:, :1]), alive_after_BN[:, :-1]], dim=1)
    discounts_N = gamma ** torch.arange(n, dtype=rewards_BN.dtype, device=rewards_BN.device)
    returns_B = (rewards_BN * alive_before_BN * discounts_N).sum(dim=1)
    return returns_B + gamma**n * alive_after_BN[:, -1] * bootstrap_value_B


def critic_loss(
    q1_sa_B: torch.Tensor, q2_sa_B: torch.Tensor, target_B: torch.Tensor
) -> torch.Tensor:
    """MSE(Q1(s,a), y) + MSE(Q2(s,a), y), the target treated as a constant (reference: the sum)."""
    assert q1_sa_B.shape == q2_sa_B.shape == target_B.shape, (q1_sa_B.shape, target_B.shape)
    target_B = target_B.detach()
    return ((q1_sa_B - target_B) ** 2).mean() + ((q2_sa_B - target_B) ** 2).mean()


def actor_loss(
    probs_BA: torch.Tensor,
    q1_BA: torch.Tensor,
    q2_BA: torch.Tensor,
    alpha: float | torch.Tensor,
) -> torch.Tensor:
    """-mean_s[alpha H(pi(.|s)) + sum_a pi(a|s) min(Q1, Q2)(s, a)].

    The Q values are constants here (only the actor is trained by this loss); ``alpha`` too, so a
    learned temperature is trained only by ``temperature_loss``.
    """
    assert probs_BA.shape == q1_BA.shape == q2_BA.shape, (probs_BA.shape, q1_BA.shape, q2_BA.shape)
    alpha = alpha.detach() if isinstance(alpha, torch.Tensor) else alpha
    q_min_BA = torch.minimum(q1_BA, q2_BA).detach()
    return -(alpha * categorical_entropy(probs_BA) + (probs_BA * q_min_BA).sum(dim=-1)).mean()


def target_entropy(num_actions: int, fraction: float = 0.98) -> float:
    """Entropy target of a learned temperature: ``fraction`` of the maximum entropy log|A|.

    The reference's (unused by default) auto-alpha option takes fraction 0.98.
    """
    if num_actions < 1:
        raise ValueError(f"num_actions={num_actions}: must be >= 1")
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction={fraction}: must be in [0, 1]")
    return fraction * math.log(num_actions)


def temperature_loss(
    log_alpha: torch.Tensor, entropy_B: torch.Tensor, target_entropy: float
) -> torch.Tensor:
    """-mean(log_alpha * (target_entropy - H)): raises alpha while H < target, lowers it above.

    ``entropy_B`` is treated as a constant, so only ``log_alpha`` gets a gradient.
    """
    return -(log_alpha * (target_entropy - entropy_B.detach())).mean()


@torch.no_grad()
def polyak_update(target: nn.Module, source: nn.Module, tau: float) -> None:
    """target <- (1 - tau) target + tau source for every parameter; buffers are copied.

    Args:
        target: the slowly moving copy (same architecture as ``source``).
        source: the trained module.
        tau: step size in [0, 1] (reference 0.005; 1 copies the source).
    """
    if not 0.0 <= tau <= 1.0:
        raise ValueError(f"tau={tau}: must be in [0, 1]")
    target_params = list(target.parameters())
    source_params = list(source.parameters())
    if len(target_params) != len(source_params):
        raise ValueError(
            f"target has {len(target_params)} parameters, source {len(source_params)}: "
            "polyak_update needs two modules of the same architecture"
        )
    # One multi-tensor kernel instead of a Python loop (the path torch.optim's foreach mode uses).
    torch._foreach_lerp_(target_params, source_params, tau)
    for t_buf, s_buf in zip(target.buffers(), source.buffers(), strict=True):
        t_buf.copy_(s_buf)


def label_cross_entropy(
    logits_NA: torch.Tensor, labels_N: torch.Tensor, labelled_N: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean cross-entropy of ``logits_NA`` toward ``labels_N`` over the ``labelled_N`` rows, and
    the share of those rows whose argmax is the label (detached); both 0 with no labelled row.
    Unlabelled rows may hold any label value (e.g. -1)."""
    assert logits_NA.dim() == 2 and labels_N.shape == labelled_N.shape == logits_NA.shape[:1]
    targets_N = torch.where(labelled_N, labels_N, torch.zeros_like(labels_N)).long()
    ce_N = nn.functional.cross_entropy(logits_NA, targets_N, reduction="none")
    count = labelled_N.sum().clamp_min(1)
    loss = (ce_N * labelled_N).sum() / count
    agree = ((logits_NA.argmax(-1) == targets_N) & labelled_N).sum() / count
    return loss, agree.detach()
