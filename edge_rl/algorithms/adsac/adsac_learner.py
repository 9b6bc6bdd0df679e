"""Framework-neutral parts of ADSAC's learner: batch column and metric-key constants."""

#: batch column: gamma^k of each n-step transition, 0 where its window ends on a terminal state
DISCOUNTS = "discounts"

# Metric keys (logged per module; RLlib nests them as learners/<module>/<key>).
CRITIC_LOSS_KEY = "critic_loss"
ACTOR_LOSS_KEY = "actor_loss"
ALPHA_LOSS_KEY = "alpha_loss"
ALPHA_VALUE_KEY = "alpha"
ENTROPY_KEY = "policy_entropy"
Q_MEAN_KEY = "q_mean"
TARGET_MEAN_KEY = "target_q_mean"
TD_ERROR_MEAN_KEY = "td_error_abs_mean"

#: optimizer names registered per module
ACTOR_OPTIMIZER = "actor"
CRITIC_OPTIMIZER = "critic"
ALPHA_OPTIMIZER = "alpha"
ENCODER_OPTIMIZER = "encoder"  # only with ``encoder_lr`` set

#: how one gradient step orders the critic and actor updates (``ADSACConfig.update_order``)
UPDATE_ORDERS = ("critic_first", "joint")
