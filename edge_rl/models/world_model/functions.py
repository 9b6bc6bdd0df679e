"""DreamerV3's loss math as pure functions on tensors (Hafner et al., arXiv 2301.04104).

    symlog / symexp           squash heavy-tailed targets (job sizes with infinite variance)
    two_hot / two_hot_decode  regression as classification over symlog-spaced bins
    two_hot_linear_mean       the same prediction's mean in the target's own units
    two_hot_loss              cross-entropy against the two-hot encoding of symlog(target)
    kl_balanced_losses        dyn and rep KL terms with free bits (0.5 dyn + 0.1 rep)
    lambda_returns            TD(lambda) returns of an imagined trajectory
    unimix_logits             1% uniform mix of a categorical distribution
    straight_through_sample   one-hot samples with straight-through gradients
    percentile_scale          the return scale max(1, P95 - P5) the actor divides advantages by

Nothing here holds state or optimisers, so a Learner (or a test) calls them directly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def symlog(x: torch.Tensor) -> torch.Tensor:
    """sign(x) log(1 + |x|)."""
    return torch.sign(x) * torch.log1p(torch.abs(x))


def symexp(x: torch.Tensor) -> torch.Tensor:
    """The inverse of ``symlog``: sign(x) (exp(|x|) - 1)."""
    return torch.sign(x) * torch.expm1(torch.abs(x))


def symlog_bins(num_bins: int = 255, low: float = -20.0, high: float = 20.0) -> torch.Tensor:
    """``num_bins`` equally spaced bin centres in symlog space (DreamerV3: 255 in [-20, 20])."""
    if num_bins < 2:
        raise ValueError(f"num_bins={num_bins}: need at least 2 bins")
    return torch.linspace(low, high, num_bins)


def two_hot(x_B: torch.Tensor, bins_K: torch.Tensor) -> torch.Tensor:
    """Two-hot encoding (B, K) of values already in bin space (e.g. symlog'ed).

    The weight is split between the two nearest bins in proportion to closeness, so
    ``(two_hot(x) * bins).sum(-1) == x`` for x inside [bins[0], bins[-1]]; values outside are
    clipped to the end bins.
    """
    x_B = x_B.clamp(bins_K[0], bins_K[-1])
    above_B = torch.searchsorted(bins_K, x_B.contiguous(), right=True).clamp(1, len(bins_K) - 1)
    below_B = above_B - 1
    lo_B, hi_B = bins_K[below_B], bins_K[above_B]
    w_hi_B = ((x_B - lo_B) / (hi_B - lo_B)).clamp(0.0, 1.0)
    out_BK = torch.zeros(*x_B.shape, len(bins_K), dtype=x_B.dtype, device=x_B.device)
    out_BK.scatter_(-1, below_B.unsqueeze(-1), (1.0 - w_hi_B).unsqueeze(-1))
    out_BK.scatter_add_(-1, above_B.unsqueeze(-1), w_hi_B.unsqueeze(-1))
    return out_BK


def two_hot_decode(logits_BK: torch.Tensor, bins_K: torch.Tensor) -> torch.Tensor:
    """The predicted value: symexp of the softmax-weighted bin centre (DreamerV3).

    That is symexp(E[symlog y]), not E[y]: for a spread-out prediction it sits near the
    geometric middle of the outcomes, far inside a heavy tail (see ``two_hot_linear_mean``).
    """
    return symexp((torch.softmax(logits_BK, dim=-1) * bins_K).sum(dim=-1))


#: bins with less probability than this are left out of ``two_hot_linear_mean``
LINEAR_MEAN_FLOOR = 1e-4


def two_hot_linear_mean(
    logits_BK: torch.Tensor, bins_K: torch.Tensor, floor: float = LINEAR_MEAN_FLOOR
) -> torch.Tensor:
    """The predicted distribution's mean in the target's own units, E[y] = sum p_k symexp(b_k).

    ``two_hot_decode`` averages in symlog space, which for outcomes with a heavy tail (a rare
    huge job among small ones) weighs the tail by its logarithm: a 4% chance of -50,000
    among -500s decodes to about -600 there and to -2,490 here (the mean is -2,480). Bins
    below ``floor`` of probability are dropped (and the rest renormalised): a softmax never
    puts exactly zero on the far bins, and symexp(20) = 4.9e8 would turn that residue into
    noise.
    """
    probs_BK = torch.softmax(logits_BK, dim=-1)
    probs_BK = torch.where(probs_BK >= floor, probs_BK, torch.zeros_like(probs_BK))
    probs_BK = probs_BK / probs_BK.sum(dim=-1, keepdim=True)
    return (probs_BK * symexp(bins_K)).sum(dim=-1)


#: how a two-hot head's prediction becomes a number: ``value_mean`` of the meta-dreamer config
TWO_HOT_MEANS = {"symlog": two_hot_decode, "linear": two_hot_linear_mean}


def two_hot_loss(
    logits_BK: torch.Tensor, target_B: torch.Tensor, bins_K: torch.Tensor
) -> torch.Tensor:
    """Per-element cross-entropy of ``logits`` against two_hot(symlog(target)) (shape B)."""
    target_BK = two_hot(symlog(target_B), bins_K)
    return -(target_BK * F.log_softmax(logits_BK, dim=-1)).sum(dim=-1)


def unimix_logits(logits_BSC: torch.Tensor, unimix: float = 0.01) -> torch.Tensor:
    """Logits of (1 - unimix) softmax(logits) + unimix / C over the last axis."""
    if unimix <= 0.0:
        return logits_BSC
    probs = torch.softmax(logits_BSC, dim=-1)
    probs = (1.0 - unimix) * probs + unimix / logits_BSC.shape[-1]
    return torch.log(probs)


def straight_through_sample(logits_BSC: torch.Tensor, greedy: bool = False) -> torch.Tensor:
    """One-hot samples (or modes, ``greedy``) whose gradient is that of the probabilities."""
    probs = torch.softmax(logits_BSC, dim=-1)
    if greedy:
        index = probs.argmax(dim=-1)
    else:
        # Inverse-CDF sampling: one uniform per variable against the cumulative probabilities
        # (the same distribution as torch's Categorical, without its exponential race; the
        # clamp only catches a cumulative sum that rounds below u at the last class).
        u = torch.rand(probs.shape[:-1] + (1,), dtype=probs.dtype, device=probs.device)
        index = (probs.cumsum(-1) < u).sum(-1).clamp_max(probs.shape[-1] - 1)
    one_hot = F.one_hot(index, logits_BSC.shape[-1]).to(probs.dtype)
    return one_hot + probs - probs.detach()


def categorical_kl(logits_p_BSC: torch.Tensor, logits_q_BSC: torch.Tensor) -> torch.Tensor:
    """KL(p || q) summed over the S categorical variables (shape B)."""
    log_p = F.log_softmax(logits_p_BSC, dim=-1)
    log_q = F.log_softmax(logits_q_BSC, dim=-1)
    return (log_p.exp() * (log_p - log_q)).sum(dim=(-1, -2))


def kl_balanced_losses(
    post_logits_BSC: torch.Tensor, prior_logits_BSC: torch.Tensor, free_bits: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """DreamerV3's (dyn, rep) KL terms, each clipped below at ``free_bits`` nats (shape B).

    dyn = max(free, KL(sg(post) || prior)) trains the prior toward the posterior;
    rep = max(free, KL(post || sg(prior))) keeps the posterior predictable. Below the free
    budget a term is constant, so its gradient is zero (the model stops squeezing what is
    already well predicted). The world-model loss weighs them 0.5 and 0.1.
    """
    dyn = categorical_kl(post_logits_BSC.detach(), prior_logits_BSC)
    rep = categorical_kl(post_logits_BSC, prior_logits_BSC.detach())
    return dyn.clamp_min(free_bits), rep.clamp_min(free_bits)


def lambda_returns(
    rewards_HB: torch.Tensor,
    continues_HB: torch.Tensor,
    values_HB: torch.Tensor,
    bootstrap_B: torch.Tensor,
    gamma: float,
    lam: float,
) -> torch.Tensor:
    """TD(lambda) returns R_t, t = 0..H-1, of an imagined trajectory (shape H x B).

    ``rewards[t]`` and ``continues[t]`` belong to the transition out of state t (received on
    entering state t+1), ``values[t]`` = v(s_t), ``bootstrap`` = v(s_H)::

        R_{H} = v(s_H)
        R_t   = r_t + gamma c_t ((1 - lam) v(s_{t+1}) + lam R_{t+1})
    """
    horizon = rewards_HB.shape[0]
    next_values_HB = torch.cat([values_HB[1:], bootstrap_B.unsqueeze(0)], dim=0)
    out = []
    ret_B = bootstrap_B
    for t in reversed(range(horizon)):
        ret_B = rewards_HB[t] + gamma * continues_HB[t] * (
            (1.0 - lam) * next_values_HB[t] + lam * ret_B
        )
        out.append(ret_B)
    return torch.stack(out[::-1], dim=0)


def percentile_scale(returns: torch.Tensor, low: float = 0.05, high: float = 0.95) -> torch.Tensor:
    """P_high - P_low of the returns (DreamerV3's return range before its EMA and max(1, .))."""
    flat = returns.detach().reshape(-1).float()
    return torch.quantile(flat, high) - torch.quantile(flat, low)


def ema_update(current: torch.Tensor, value: torch.Tensor, decay: float) -> torch.Tensor:
    """decay * current + (1 - decay) * value (in place on ``current``; returned too)."""
    current.mul_(decay).add_((1.0 - decay) * value)
    return current
