"""Tokenisers: token shapes per layout, which token each action belongs to, shape errors."""

import pytest
import torch

from edge_rl.models.tokenizers import LAYOUTS, make_tokenizer, paper_layout

PAPER_CASES = [("paper-adsac", (36,), 40, 11), ("paper-agod", (42,), 20, 21)]


@pytest.mark.parametrize(("layout", "obs_shape", "num_actions", "num_tokens"), PAPER_CASES)
def test_paper_tokenizer_shapes(layout, obs_shape, num_actions, num_tokens):
    tok = make_tokenizer(layout, obs_shape, num_actions, width=8)
    tokens = tok(torch.rand(5, *obs_shape))
    assert tokens.shape == (5, num_tokens, 8)
    assert tok.num_tokens == num_tokens and tok.flat_dim == obs_shape[0]


def test_paper_adsac_action_maps_to_its_server_token_and_model():
    tok = make_tokenizer("paper-adsac", (36,), 40, width=8)
    index = tok.action_token_index(11)
    # a = e * 4 + m belongs to server e, which is token 1 + e.
    assert index.tolist() == [1 + a // 4 for a in range(40)]
    offsets = tok.action_offsets(40)
    assert offsets.shape == (40, 8)
    assert torch.equal(offsets[1], offsets[5]) and torch.equal(offsets[3], offsets[39])
    assert not torch.equal(offsets[0], offsets[1])


def test_paper_agod_has_one_action_per_provider_and_no_model_embedding():
    tok = make_tokenizer("paper-agod", (42,), 20, width=8)
    assert tok.action_token_index(21).tolist() == list(range(1, 21))
    assert tok.action_offsets(20) is None


def test_paper_tokenizer_reads_the_documented_columns():
    """The task token depends only on the task columns, server e's token only on its own."""
    tok = make_tokenizer("paper-adsac", (36,), 40, width=8)
    obs = torch.rand(1, 36)
    base = tok(obs)
    changed = obs.clone()
    changed[0, 6 + 3 * 2 + 1] += 1.0  # free fraction of server 2
    diff = (tok(changed) - base).abs().sum(dim=-1)[0]
    assert diff[3] > 0 and diff.sum() == diff[3]
    changed = obs.clone()
    changed[0, 4] += 1.0  # demand t/240: task token only
    diff = (tok(changed) - base).abs().sum(dim=-1)[0]
    assert diff[0] > 0 and diff.sum() == diff[0]
    agod = make_tokenizer("paper-agod", (42,), 20, width=8)
    obs = torch.rand(1, 42)
    changed = obs.clone()
    changed[0, 41] += 1.0  # runtime column: the task token is row 0
    diff = (agod(changed) - agod(obs)).abs().sum(dim=-1)[0]
    assert diff[0] > 0 and diff.sum() == diff[0]


def test_server_tokens_with_equal_features_differ_by_identity():
    tok = make_tokenizer("paper-adsac", (36,), 40, width=8)
    obs = torch.zeros(1, 36)
    tokens = tok(obs)
    assert not torch.allclose(tokens[0, 1], tokens[0, 2])


@pytest.mark.parametrize("num_servers", [1, 3, 10])
def test_tokens_layout_works_for_any_number_of_servers(num_servers):
    k, m = 4, 4
    tok = make_tokenizer("tokens", (1 + 3 * m, k + 12), 3 * m, width=8)
    obs = torch.rand(2, 1 + num_servers * m, k + 12)
    assert tok(obs).shape == (2, 1 + num_servers * m, 8)
    assert tok.action_token_index(1 + num_servers * m).tolist() == list(
        range(1, 1 + num_servers * m)
    )
    assert tok.action_offsets(num_servers * m) is None
    assert tok.num_tokens is None and tok.flat_dim is None


def test_tokens_layout_ignores_unused_columns():
    k = 3
    tok = make_tokenizer("tokens", (1 + 8, k + 12), 8, width=8)
    obs = torch.rand(2, 9, k + 12)
    changed = obs.clone()
    changed[:, 0, k + 2 :] = 5.0  # task row: server columns are unused
    changed[:, 1:, : k + 2] = 5.0  # server-model rows: task columns are unused
    assert torch.equal(tok(obs), tok(changed))


@pytest.mark.parametrize(
    ("layout", "obs_shape", "num_actions", "match"),
    [
        ("paper-adsac", (35,), 40, "obs_shape=\\(35,\\)"),
        ("paper-adsac", (36,), 25, "num_actions=25"),
        ("paper-adsac", (36,), 40, "num_servers=11"),
        ("paper-agod", (42,), 21, "num_actions=21"),
        ("paper-agod", (36, 2), 20, "is flat"),
        ("tokens", (41,), 40, "obs_shape=\\(41,\\)"),
        ("tokens", (40, 16), 40, "1 \\+ num_actions"),
        ("tokens", (41, 12), 40, "num_features=12"),
        ("flat", (36,), 40, "layout='flat'"),
    ],
)
def test_bad_shapes_raise_errors_that_name_the_value(layout, obs_shape, num_actions, match):
    num_servers = 11 if "num_servers" in match else None
    with pytest.raises(ValueError, match=match):
        make_tokenizer(layout, obs_shape, num_actions, width=8, num_servers=num_servers)


@pytest.mark.parametrize(
    ("layout", "obs_shape", "num_actions", "num_servers", "expected"),
    [
        # (task_features, servers, models per server)
        ("paper-adsac", (4 + 2 + 3 * 5,), 5 * 3, None, (6, 5, 3)),
        ("paper-adsac", (2 + 2 + 3 * 6,), 6 * 2, 6, (4, 6, 2)),
        ("paper-agod", (2 * 7 + 2,), 7, None, (2, 7, 1)),
    ],
)
def test_paper_layouts_follow_the_env_size_knobs(
    layout, obs_shape, num_actions, num_servers, expected
):
    spec = paper_layout(layout, obs_shape, num_actions, num_servers)
    assert (spec.task_features, spec.num_servers, spec.models_per_server) == expected
    assert spec.obs_dim == obs_shape[0] and spec.num_actions == num_actions
    tok = make_tokenizer(layout, obs_shape, num_actions, width=8, num_servers=num_servers)
    assert tok(torch.rand(2, *obs_shape)).shape == (2, 1 + expected[1], 8)


def test_layouts_constant_lists_every_layout():
    assert set(LAYOUTS) == {"paper-adsac", "paper-agod", "tokens"}
