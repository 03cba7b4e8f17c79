"""Mixup (TrainConfig.mixup, vc-train --mixup): what the model is trained on, and the loss it gets."""

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from lrcn.train.config import TrainConfig
from lrcn.train.loop import train_one_epoch


class Recorder(nn.Module):
    """A linear classifier over flattened clips that keeps what it was given."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2 * 3 * 4 * 4, 3)
        self.seen = []

    def forward(self, x):
        self.seen.append(x.detach().clone())
        return self.fc(x.flatten(1))


def _batch():
    g = torch.Generator().manual_seed(5)
    return torch.rand(6, 2, 3, 4, 4, generator=g), torch.tensor([0, 1, 2, 0, 1, 2])


def test_mixup_trains_on_pairs_of_clips_with_the_loss_mixed_alike():
    x, y = _batch()
    model = Recorder()
    before = Recorder()
    before.load_state_dict(model.state_dict())
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    torch.manual_seed(11)
    out = train_one_epoch(model, [(x, y)], opt, "cpu", mixup=0.4, label_smoothing=0.1)
    torch.manual_seed(11)  # the same draws, made here by hand
    lam = float(torch.distributions.Beta(0.4, 0.4).sample())
    perm = torch.randperm(6)
    assert not torch.equal(perm, torch.arange(6))
    torch.testing.assert_close(model.seen[0], lam * x + (1 - lam) * x[perm])
    with torch.no_grad():
        logits = before(model.seen[0])
    want = lam * F.cross_entropy(logits, y, label_smoothing=0.1) + (1 - lam) * F.cross_entropy(
        logits, y[perm], label_smoothing=0.1
    )
    assert out["loss"] == pytest.approx(float(want), rel=1e-6)


def test_without_mixup_the_clips_go_in_as_they_are():
    x, y = _batch()
    model = Recorder()
    train_one_epoch(model, [(x, y)], torch.optim.SGD(model.parameters(), lr=0.1), "cpu")
    assert torch.equal(model.seen[0], x)


def test_mixup_out_of_range_is_refused():
    with pytest.raises(ValueError, match="mixup must be in"):
        TrainConfig(mixup=-0.1)
    assert TrainConfig().mixup == 0.0
