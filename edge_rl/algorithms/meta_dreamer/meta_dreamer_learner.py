"""Framework-neutral parts of Meta-Dreamer's learner: batch columns, metric keys, optimizers."""

#: batch columns (batch-major: one window of T steps per row)
PREV_ACTIONS = "prev_actions"  # a_{t-1}, -1 at a trial's start
PREV_REWARDS = "prev_rewards"  # r_{t-1}, the reward received on entering o_t
CONTINUES = "continues"  # 0 where o_t ends a terminated trial
GUIDE_ACTIONS = "guide_actions"  # a heuristic's action for o_t (-1: none); with guide_weight

#: optimizer names registered per module
WORLD_MODEL_OPTIMIZER = "world_model"
ACTOR_OPTIMIZER = "actor"
CRITIC_OPTIMIZER = "critic"

# Metric keys (logged per module; RLlib nests them as learners/<module>/<key>).
WORLD_MODEL_LOSS_KEY = "world_model_loss"
ACTOR_LOSS_KEY = "actor_loss"
CRITIC_LOSS_KEY = "critic_loss"
GUIDE_LOSS_KEY = "guide_loss"  # the actor's cross-entropy on the heuristic's actions
GUIDE_WEIGHT_KEY = "guide_weight"
GUIDE_AGREEMENT_KEY = "guide_agreement"  # share of real steps where the greedy action agrees
