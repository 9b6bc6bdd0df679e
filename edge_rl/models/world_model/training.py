"""One training step of the meta world-model agent, as functions of the nets and a batch.

    observe_sequence      posterior rollout of the RSSM (and the policy memory) over real steps
    world_model_loss      pred (symlog MSE decoder + two-hot reward + Bernoulli continue)
                          + 0.5 dyn + 0.1 rep KL with free bits
    imagine               H steps of prior rollout from every real state, actions from the actor
    actor_critic_loss     REINFORCE with lambda-returns scaled by max(1, EMA(P95 - P5)), entropy
                          bonus; two-hot critic toward the lambda-returns plus a slow-critic
                          regulariser (and, with ``input_baseline``, an input-dependent
                          baseline for the advantages: ``future_inputs``)
    replay_value_loss     the critic also on the real (replayed) steps, toward lambda-returns of
                          the real rewards (the replay value loss of DreamerV3's current code;
                          optional, ``DreamerLossConfig.replay_value``)
    guide_loss            the actor's cross-entropy on a heuristic's actions at real steps
                          (optional guidance, DAgger-style labels)
    update_losses         observe, world model, imagine, actor-critic (and the replay value
                          loss when weighted): one update's losses (the unit the learner may
                          hand to ``torch.compile``)

Batches are time-major (T, B): ``obs`` o_t, ``prev_actions`` a_{t-1} (-1 at a trial's start),
``rewards`` r_{t-1} (the reward received on entering o_t; 0 at a trial's start), ``continues``
(0 when o_t is the last observation of a terminated trial), and the carried state before o_0
(``h``, ``z``, ``m`` as the env runner left them; zeros at a trial's start).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from edge_rl.models.losses import label_cross_entropy
from edge_rl.models.server_scoring import LOG_SCALE
from edge_rl.models.world_model.functions import (
    TWO_HOT_MEANS,
    ema_update,
    kl_balanced_losses,
    lambda_returns,
    percentile_scale,
    symlog,
    two_hot_loss,
)
from edge_rl.models.world_model.networks import MetaDreamerNets


@dataclass(frozen=True)
class DreamerLossConfig:
    """Loss weights and imagination settings (DreamerV3's defaults unless noted).

    Attributes:
        dyn_scale, rep_scale: KL weights (0.5, 0.1); free_bits: 1 nat.
        horizon: imagination steps H (15).
        gamma: discount (0.997; per job decision here); lam: lambda of the returns (0.95).
        entropy: actor entropy bonus (3e-4).
        slow_reg: weight of the slow-critic regulariser (1.0).
        return_decay: EMA decay of the return range (0.99).
        replay_value: weight of ``replay_value_loss`` (0: off, the paper's DreamerV3; its
            current public code trains the critic on replayed steps too, weighted 0.3).
        value_mean: how the reward and critic heads' two-hot predictions become numbers:
            "symlog" (DreamerV3: symexp of the mean in symlog space, ``two_hot_decode``) or
            "linear" (their mean in the rewards' own units, ``two_hot_linear_mean``, which
            weighs a rare huge cost by its size rather than its logarithm).
    """

    dyn_scale: float = 0.5
    rep_scale: float = 0.1
    free_bits: float = 1.0
    horizon: int = 15
    gamma: float = 0.997
    lam: float = 0.95
    entropy: float = 3e-4
    slow_reg: float = 1.0
    return_decay: float = 0.99
    replay_value: float = 0.0
    value_mean: str = "symlog"

    def __post_init__(self) -> None:
        if not isinstance(self.value_mean, str) or self.value_mean not in TWO_HOT_MEANS:
            raise ValueError(
                f"value_mean={self.value_mean!r}: must be one of {sorted(TWO_HOT_MEANS)}"
            )

    @property
    def decode(self) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        """(logits, bins) -> the number a two-hot head predicts, as ``value_mean`` says."""
        return TWO_HOT_MEANS[self.value_mean]


def _onehot(actions: torch.Tensor, num_actions: int) -> torch.Tensor:
    """One-hot of integer actions; -1 (no previous action) gives zeros."""
    valid = actions >= 0
    out = F.one_hot(actions.clamp_min(0).long(), num_actions).float()
    return out * valid.unsqueeze(-1).float()


def observe_sequence(
    nets: MetaDreamerNets, batch: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """Posterior rollout over T real steps: feats, prior/post logits and the policy memory."""
    wm, ag = nets.world_model, nets.agent
    obs_TBO = batch["obs"]
    T, B = obs_TBO.shape[:2]
    embed_TBE = wm.embed(obs_TBO)
    prev_a_TBA = _onehot(batch["prev_actions"], nets.num_actions)
    h, z, m = batch["h"], batch["z"], batch["m"]
    assert h.shape == (B, nets.cfg.deter), (h.shape, B)
    feats, posts, priors, mems = [], [], [], []
    for t in range(T):
        h, prior = wm.img_step(h, z, prev_a_TBA[t])
        post = wm.posterior(h, embed_TBE[t])
        z = wm.sample(post)
        feat = torch.cat([h, z], dim=-1)
        m = ag.remember(m, feat.detach(), prev_a_TBA[t])
        feats.append(feat)
        posts.append(post)
        priors.append(prior)
        mems.append(m)
    return {
        "feat": torch.stack(feats),
        "post": torch.stack(posts),
        "prior": torch.stack(priors),
        "m": torch.stack(mems),
    }


def world_model_loss(
    nets: MetaDreamerNets,
    batch: dict[str, torch.Tensor],
    seq: dict[str, torch.Tensor],
    cfg: DreamerLossConfig,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """pred + dyn_scale * dyn + rep_scale * rep, averaged over (T, B)."""
    wm = nets.world_model
    feat = seq["feat"]
    decoder_TB = ((wm.decoder(feat) - symlog(batch["obs"])) ** 2).sum(-1)
    reward_TB = two_hot_loss(wm.reward_logits(feat), batch["rewards"].float(), wm.bins)
    cont_TB = F.binary_cross_entropy_with_logits(
        wm.continue_head(feat).squeeze(-1), batch["continues"].float(), reduction="none"
    )
    dyn_TB, rep_TB = kl_balanced_losses(seq["post"], seq["prior"], cfg.free_bits)
    total = decoder_TB + reward_TB + cont_TB + cfg.dyn_scale * dyn_TB + cfg.rep_scale * rep_TB
    metrics = {
        "decoder": decoder_TB.mean().detach(),
        "reward": reward_TB.mean().detach(),
        "continue": cont_TB.mean().detach(),
        "kl_dyn": dyn_TB.mean().detach(),
        "kl_rep": rep_TB.mean().detach(),
    }
    return total.mean(), metrics


def imagine(
    nets: MetaDreamerNets, seq: dict[str, torch.Tensor], horizon: int, starts: int = 0
) -> dict[str, torch.Tensor]:
    """Roll the prior forward ``horizon`` steps from every real step (N = T*B starts), or
    from ``starts`` of them drawn without replacement when 0 < ``starts`` < T*B.

    DreamerV3 starts from every real step. Neighbouring steps of one window start from nearly
    the same state, and the imagination and actor-critic loss (most of an update's time on a
    CPU) cost in proportion to the starts, so a random subset (``imagine_starts`` in the
    config) buys more updates per second; how it learns is measured in
    docs/history/load-balance.md (session 29).

    Dynamics run without gradients (the actor learns by REINFORCE); the policy memory keeps
    its gradients, so the actor loss also trains how the memory was formed on real steps.
    """
    if starts < 0:
        raise ValueError(f"starts={starts}: must be >= 0 (0 = every real step)")
    wm, ag = nets.world_model, nets.agent
    feat = seq["feat"].detach().flatten(0, 1)
    m = seq["m"].flatten(0, 1)
    if 0 < starts < feat.shape[0]:
        pick = torch.randperm(feat.shape[0], device=feat.device)[:starts]
        feat, m = feat[pick], m[pick]
    h, z = feat[:, : nets.cfg.deter], feat[:, nets.cfg.deter :]
    feats, mems, actions, logps, entropies = [feat], [m], [], [], []
    # the decoded observations feed the servers head and the input baseline's job sizes
    decode = ag.needs_obs or ag.input_critic is not None
    hints = []
    for _ in range(horizon):
        with torch.no_grad():
            obs_hint = wm.decode_obs(feat) if decode else None
        hints.append(obs_hint)
        logits = ag.logits(feat, m, obs_hint)
        dist = torch.distributions.Categorical(logits=logits)
        action = dist.sample()
        logps.append(dist.log_prob(action))
        entropies.append(dist.entropy())
        actions.append(action)
        a = F.one_hot(action, nets.num_actions).float()
        with torch.no_grad():
            h, prior = wm.img_step(h, z, a)
            z = wm.sample(prior)
            feat = torch.cat([h, z], dim=-1)
        m = ag.remember(m, feat, a)
        feats.append(feat)
        mems.append(m)
    out = {}
    if ag.input_critic is not None:  # its job sizes: every imagined state's, the last's too
        with torch.no_grad():
            hints.append(wm.decode_obs(feat))
        out["obs"] = torch.stack(hints)  # (H+1, N, O)
    return out | {
        "feat": torch.stack(feats),  # (H+1, N, F)
        "m": torch.stack(mems),  # (H+1, N, M)
        "actions": torch.stack(actions),  # (H, N)
        "logp": torch.stack(logps),  # (H, N)
        "entropy": torch.stack(entropies),  # (H, N)
    }


def future_inputs(inputs_H1N: torch.Tensor, window: int) -> torch.Tensor:
    """For each imagined step t = 0..H-1, the inputs of steps t+1..t+window and whether each
    exists (steps past H do not): (H, N, 2 * window), values first, then the mask.

    ``inputs_H1N`` holds one input per imagined state (H+1 of them, the start included), here
    the incoming job's size: x_{t+1} is the job that arrives after the decision at step t, so
    a baseline for a_t may read it (it does not depend on a_t; Mao et al. 2019).
    """
    if window < 1:
        raise ValueError(f"window={window}: must be >= 1")
    H1, N = inputs_H1N.shape
    pad = inputs_H1N.new_zeros(window, N)
    values = torch.cat([inputs_H1N, pad])
    exists = torch.cat([torch.ones_like(inputs_H1N), pad])
    index_HK = (
        torch.arange(H1 - 1, device=inputs_H1N.device)[:, None]
        + 1
        + torch.arange(window, device=inputs_H1N.device)[None, :]
    )
    out_HKN = torch.cat([values[index_HK], exists[index_HK]], dim=1)
    return out_HKN.permute(0, 2, 1)


def _critic_loss(
    nets: MetaDreamerNets,
    value_logits: torch.Tensor,
    feat: torch.Tensor,
    m: torch.Tensor,
    targets: torch.Tensor,
    cfg: DreamerLossConfig,
) -> torch.Tensor:
    """Per-step critic loss: two-hot toward ``targets`` plus ``cfg.slow_reg`` x two-hot toward
    the slow critic's values at the same (feat, m) (DreamerV3's slow-critic regulariser)."""
    bins = nets.world_model.bins
    with torch.no_grad():
        slow = cfg.decode(nets.agent.value_logits(feat, m, slow=True), bins)
    loss = two_hot_loss(value_logits, targets, bins)
    return loss + cfg.slow_reg * two_hot_loss(value_logits, slow, bins)


def actor_critic_loss(
    nets: MetaDreamerNets,
    imag: dict[str, torch.Tensor],
    cfg: DreamerLossConfig,
    update_scale: bool = True,
) -> tuple[torch.Tensor, dict[str, Any]]:
    """Actor (REINFORCE, scaled advantages, entropy) + critic (two-hot + slow regulariser).

    ``nets.agent.return_scale`` (the EMA of P95 - P5 of the returns) is updated in place when
    ``update_scale``. With an input critic (``WorldModelConfig.input_baseline`` = K > 0) the
    advantages subtract its value instead of the critic's: it reads what the critic reads plus
    the next K imagined job sizes (decoded from the imagined states), is fit by the same
    two-hot loss toward the same lambda-returns (no slow regulariser), and its loss joins the
    critic's; the lambda-returns still bootstrap from the plain critic. Its metrics:
    ``input_critic`` (loss) and the spread of the unscaled advantages under either baseline
    (``advantage_std_value``, ``advantage_std_input``).
    """
    wm, ag = nets.world_model, nets.agent
    feat = imag["feat"]
    m_sg = imag["m"].detach()
    with torch.no_grad():
        next_feat = feat[1:]
        rewards_HN = cfg.decode(wm.reward_logits(next_feat), wm.bins)
        continues_HN = torch.sigmoid(wm.continue_head(next_feat).squeeze(-1))
        values_H1N = cfg.decode(ag.value_logits(feat, m_sg), wm.bins)
        returns_HN = lambda_returns(
            rewards_HN, continues_HN, values_H1N[:-1], values_H1N[-1], cfg.gamma, cfg.lam
        )
        weights_HN = torch.cumprod(
            torch.cat([torch.ones_like(continues_HN[:1]), cfg.gamma * continues_HN[:-1]]), dim=0
        )
        if update_scale:
            ema_update(ag.return_scale, percentile_scale(returns_HN), cfg.return_decay)
        scale = torch.clamp(ag.return_scale, min=1.0)
        baseline_HN = values_H1N[:-1]
    extra: dict[str, Any] = {}
    input_critic = torch.zeros(())
    if ag.input_critic is not None:
        with torch.no_grad():
            sizes_H1N = imag["obs"][..., ag.size_index] / LOG_SCALE
            future_HN2K = future_inputs(sizes_H1N, ag.cfg.input_baseline)
        input_logits = ag.input_value_logits(feat[:-1], m_sg[:-1], future_HN2K)
        input_critic = (weights_HN * two_hot_loss(input_logits, returns_HN, wm.bins)).mean()
        with torch.no_grad():
            baseline_HN = cfg.decode(input_logits, wm.bins)
            extra = {
                "input_critic": input_critic.detach(),
                "advantage_std_value": (returns_HN - values_H1N[:-1]).std(),
                "advantage_std_input": (returns_HN - baseline_HN).std(),
            }
    advantages_HN = (returns_HN - baseline_HN) / scale

    actor_HN = -(imag["logp"] * advantages_HN + cfg.entropy * imag["entropy"])
    actor = (weights_HN * actor_HN).mean()
    value_logits = ag.value_logits(feat[:-1], m_sg[:-1])
    critic_HN = _critic_loss(nets, value_logits, feat[:-1], m_sg[:-1], returns_HN, cfg)
    critic = (weights_HN * critic_HN).mean()
    metrics = {
        "actor": actor.detach(),
        "critic": critic.detach(),
        "policy_entropy": imag["entropy"].mean().detach(),
        "imagined_return": returns_HN.mean(),
        "imagined_reward": rewards_HN.mean(),
        "return_scale": ag.return_scale.detach().clone(),
        **extra,
    }
    return actor + critic + input_critic, metrics


def replay_value_loss(
    nets: MetaDreamerNets,
    batch: dict[str, torch.Tensor],
    seq: dict[str, torch.Tensor],
    cfg: DreamerLossConfig,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The critic on the real steps of the batch, toward TD(lambda) returns of real rewards.

    Imagination trains the critic only on the world model's predicted rewards, H steps deep;
    rare, costly events (a huge job on a slow server) enter its targets only as the model
    imagines them. Here the critic is also fit on the posterior states of the replayed
    windows: with the batch's convention (``rewards[t]`` received on entering o_t,
    ``continues[t]`` = 0 when o_t ends a terminated trial), for t = 0..T-2::

        R_t = rewards[t+1] + gamma continues[t+1] ((1 - lam) v(s_{t+1}) + lam R_{t+1}),
        R_{T-1} = v(s_{T-1})

    with v the critic's own (detached) values, as DreamerV3's code (``repl_loss``, slowtar
    False; it bootstraps from imagined returns, which exist here only at the imagined
    starts). Steps whose o_t ends a trial take no action and carry no loss. The same two-hot
    loss and slow-critic regulariser as in ``actor_critic_loss``; features and memory are
    detached, so only the critic learns from it (DreamerV3's code, with ``repval_grad``, lets
    it shape the world model's features too). Returns (loss, metrics).
    """
    wm, ag = nets.world_model, nets.agent
    feat_TBF = seq["feat"].detach()
    m_TBM = seq["m"].detach()
    value_logits_TBK = ag.value_logits(feat_TBF, m_TBM)
    with torch.no_grad():
        values_TB = cfg.decode(value_logits_TBK, wm.bins)
        returns_TB = lambda_returns(
            batch["rewards"][1:].float(),
            batch["continues"][1:].float(),
            values_TB[:-1],
            values_TB[-1],
            cfg.gamma,
            cfg.lam,
        )
        acting_TB = batch["continues"][:-1].float()
    loss_TB = _critic_loss(nets, value_logits_TBK[:-1], feat_TBF[:-1], m_TBM[:-1], returns_TB, cfg)
    loss = (acting_TB * loss_TB).sum() / acting_TB.sum().clamp_min(1.0)
    metrics = {"replay_value_loss": loss.detach(), "replay_return": returns_TB.mean()}
    return loss, metrics


def update_losses(
    nets: MetaDreamerNets,
    batch: dict[str, torch.Tensor],
    cfg: DreamerLossConfig,
    starts: int = 0,
) -> tuple[dict[str, torch.Tensor], torch.Tensor, dict, torch.Tensor, dict]:
    """One update's losses: ``observe_sequence``, ``world_model_loss``, ``imagine`` (from
    ``starts`` real steps, 0 = all) and ``actor_critic_loss``, in that order; with
    ``cfg.replay_value`` > 0 also ``replay_value_loss``, added to the actor-critic loss with
    that weight (its metrics join the actor-critic ones).

    Returns (seq, world-model loss, its metrics, actor-critic loss, its metrics). A plain
    function of the nets and a batch, so ``torch.compile`` can take it whole: the loops over
    T real and H imagined steps unroll into one graph (``MetaDreamerConfig.compile_update``).
    """
    seq = observe_sequence(nets, batch)
    loss_wm, wm_metrics = world_model_loss(nets, batch, seq, cfg)
    imag = imagine(nets, seq, cfg.horizon, starts=starts)
    loss_ac, ac_metrics = actor_critic_loss(nets, imag, cfg)
    if cfg.replay_value > 0:
        loss_rv, rv_metrics = replay_value_loss(nets, batch, seq, cfg)
        loss_ac = loss_ac + cfg.replay_value * loss_rv
        ac_metrics.update(rv_metrics)
    return seq, loss_wm, wm_metrics, loss_ac, ac_metrics


def guide_loss(
    nets: MetaDreamerNets, seq: dict[str, torch.Tensor], guide_actions_TB: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy of the actor's logits at the real steps toward ``guide_actions_TB``.

    The actor reads what it reads when acting (``MetaDreamerNets.act``): the posterior features,
    its memory, and (server head) the decoded observation. The world model gets no gradient
    from it (features detached); the actor and its memory do. Steps labelled -1 are left out.
    Returns (mean cross-entropy over the labelled steps, share of them where the actor's greedy
    action is the label); both 0 when no step is labelled.
    """
    wm, ag = nets.world_model, nets.agent
    feat_TBF = seq["feat"].detach()
    T, B = feat_TBF.shape[:2]
    assert guide_actions_TB.shape == (T, B), (guide_actions_TB.shape, feat_TBF.shape)
    feat_NF = feat_TBF.flatten(0, 1)  # the heads read flat batches
    with torch.no_grad():
        obs_hint = wm.decode_obs(feat_NF) if ag.needs_obs else None
    logits_NA = ag.logits(feat_NF, seq["m"].flatten(0, 1), obs_hint)
    labels_N = guide_actions_TB.flatten()
    return label_cross_entropy(logits_NA, labels_N, labels_N >= 0)
