"""The per-step loss (TrainConfig.step_loss, vc-train --step-loss): what it adds to the last step's loss."""

import pytest
import torch
from torch.nn import functional as F

from lrcn.models import ModelConfig, build_model
from lrcn.train.config import TrainConfig
from lrcn.train.loop import train_one_epoch


def _model(members):
    torch.manual_seed(3)
    cfg = ModelConfig(
        img_size=32, num_classes=3, hidden_size=6, latent_dim=8, dropout=0.0, norm="none", members=members
    )
    return build_model(cfg)


def _batch():
    g = torch.Generator().manual_seed(5)
    return torch.rand(4, 5, 3, 32, 32, generator=g), torch.tensor([0, 1, 2, 0])


@pytest.mark.parametrize("members", [1, 2])
def test_step_loss_weighs_every_step_against_the_last(members):
    x, y = _batch()
    model, ref = _model(members), _model(members)
    want = 0.0
    for m in ref.member_step_logits(x):  # (B, T, K) per member, before the step
        last = F.cross_entropy(m[:, -1], y, label_smoothing=0.1)
        steps = F.cross_entropy(m.flatten(0, 1), y.repeat_interleave(5), label_smoothing=0.1)
        want = want + 0.7 * last + 0.3 * steps
    want.backward()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    out = train_one_epoch(model, [(x, y)], opt, "cpu", label_smoothing=0.1, step_loss=0.3)
    if members == 1:  # an ensemble shows its mean probability's loss instead of the sum it trains on
        assert out["loss"] == pytest.approx(want.item(), rel=1e-5)
    # the weights took one SGD step down that loss's gradient, every member's
    for p, q in zip(model.parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(p, q.detach() - 0.1 * q.grad, atol=1e-6, rtol=1e-5)
    # the same step without it moves the weights elsewhere: the earlier steps' losses reach the gradient
    plain = _model(members)
    train_one_epoch(plain, [(x, y)], torch.optim.SGD(plain.parameters(), lr=0.1), "cpu", label_smoothing=0.1)
    moved = [(a - b).abs().max().item() for a, b in zip(model.parameters(), plain.parameters(), strict=True)]
    assert max(moved) > 1e-4


def test_step_loss_zero_is_the_plain_loss():
    x, y = _batch()
    a, b = _model(1), _model(1)
    train_one_epoch(a, [(x, y)], torch.optim.SGD(a.parameters(), lr=0.1), "cpu")
    train_one_epoch(b, [(x, y)], torch.optim.SGD(b.parameters(), lr=0.1), "cpu", step_loss=0.0)
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(p, q)


def test_step_loss_out_of_range_is_refused():
    with pytest.raises(ValueError, match="step_loss must be in"):
        TrainConfig(step_loss=1.5)
    assert TrainConfig().step_loss == 0.0
