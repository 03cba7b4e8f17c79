import pytest
import torch

from lrcn.models import ModelConfig, build_model, list_models, register_model
from lrcn.models.backbones import WeightsError, load_backbone


def test_registry():
    assert list_models() == ["convlstm", "pretrained", "resnetlstm"]
    with pytest.raises(ValueError, match="already registered"):
        register_model("convlstm")(lambda cfg, load_weights=True: None)
    with pytest.raises(ValueError, match="unknown model"):
        build_model(ModelConfig(name="nope"))


@pytest.mark.parametrize("name", ["convlstm", "resnetlstm"])
@pytest.mark.parametrize("img_size,channels", [(32, 3), (48, 6), (64, 3)])
def test_shape_contract_any_size(name, img_size, channels):
    m = build_model(
        ModelConfig(name=name, img_size=img_size, in_channels=channels, num_classes=5, latent_dim=8, hidden_size=6)
    )
    assert m(torch.randn(2, 3, channels, img_size, img_size)).shape == (2, 5)


def test_no_softmax_in_training_graph():
    m = build_model(ModelConfig(img_size=32, num_classes=4)).eval()
    logits = m(torch.randn(3, 2, 3, 32, 32))
    assert not torch.allclose(logits.sum(1), torch.ones(3))  # raw logits, not probabilities


def test_no_state_between_batches():
    m = build_model(ModelConfig(img_size=32, num_classes=4)).eval()
    x = torch.randn(1, 3, 3, 32, 32)
    with torch.no_grad():
        a = m(x)
        m(torch.randn(1, 3, 3, 32, 32))
        torch.testing.assert_close(m(x), a)


def test_bidirectional_head_uses_both_final_states():
    m = build_model(ModelConfig(img_size=32, num_classes=4, bidirectional=True, hidden_size=5, dropout=0.0)).eval()
    x = torch.randn(2, 6, 3, 32, 32)
    with torch.no_grad():
        feats = m.encoder(x.flatten(0, 1)).unflatten(0, (2, 6))
        out, _ = m.head.lstm(feats)
        # forward direction ends at t = T-1, backward direction ends at t = 0
        expected = m.head.fc(torch.cat([out[:, -1, :5], out[:, 0, 5:]], dim=1))
        torch.testing.assert_close(m(x), expected)


def test_mean_pooled_head_averages_every_step_and_has_no_step_form():
    m = build_model(ModelConfig(img_size=32, num_classes=4, pool="mean", hidden_size=5, dropout=0.0)).eval()
    x = torch.randn(2, 6, 3, 32, 32)
    with torch.no_grad():
        feats = m.encoder(x.flatten(0, 1)).unflatten(0, (2, 6))
        out, _ = m.head.lstm(feats)
        torch.testing.assert_close(m(x), m.head.fc(out.mean(dim=1)))
        assert not torch.allclose(m(x), m.head.fc(out[:, -1]))  # not the last state's classifier
        h = torch.zeros(1, 2, 5)
        with pytest.raises(ValueError, match="no step form"):
            m.head.step(feats[:, 0], h, h.clone())
    assert m.cfg.step_absent and ModelConfig().step_absent is None
    with pytest.raises(ValueError, match="pool must be one of last, mean"):
        ModelConfig(pool="max")


@pytest.mark.parametrize("members,layers", [(1, 1), (1, 2), (3, 1)])
def test_step_logits_end_in_the_prediction(members, layers):
    """The classifier read at every step (training's per-step loss) ends where forward() does, and
    earlier steps are the clip cut short there."""
    cfg = ModelConfig(img_size=32, num_classes=4, hidden_size=5, lstm_layers=layers, members=members)
    m = build_model(cfg).eval()
    x = torch.randn(2, 6, 3, 32, 32)
    with torch.no_grad():
        every = m.member_step_logits(x)
        assert every.shape == (members, 2, 6, 4)
        torch.testing.assert_close(every[:, :, -1], m.member_logits(x))
        torch.testing.assert_close(every[:, :, 2], m.member_logits(x[:, :3]))
        assert not torch.allclose(every[:, :, 2], every[:, :, -1])


@pytest.mark.parametrize("kw", [{"pool": "mean"}, {"bidirectional": True}])
def test_a_head_without_steps_has_no_step_logits(kw):
    m = build_model(ModelConfig(img_size=32, num_classes=4, hidden_size=5, **kw))
    with pytest.raises(ValueError, match="has no per-step logits"):
        m.member_step_logits(torch.randn(1, 3, 3, 32, 32))


def test_step_reproduces_forward():
    m = build_model(ModelConfig(img_size=32, num_classes=4, lstm_layers=2, hidden_size=7)).eval()
    x = torch.randn(2, 5, 3, 32, 32)
    with torch.no_grad():
        h = torch.zeros(2, 2, 7)
        c = torch.zeros(2, 2, 7)
        for t in range(5):
            logits, h, c = m.head.step(m.encode(x[:, t]), h, c)
        torch.testing.assert_close(logits, m(x), atol=1e-5, rtol=1e-5)


@pytest.mark.slow  # builds and saves a full resnet18 first
def test_pretrained_frozen_backbone_from_local_weights(resnet18_weights):
    cfg = ModelConfig(
        name="pretrained",
        backbone="resnet18",
        backbone_weights=str(resnet18_weights),
        img_size=32,
        in_channels=6,
        num_classes=3,
        latent_dim=8,
        hidden_size=4,
    )
    m = build_model(cfg)
    state = torch.load(resnet18_weights, weights_only=True)
    torch.testing.assert_close(m.encoder.backbone.conv1.weight, state["conv1.weight"])
    assert not any(p.requires_grad for p in m.encoder.backbone.parameters())
    m.train()
    assert not m.encoder.backbone.training  # BatchNorm stays in eval mode
    x = torch.randn(1, 2, 6, 32, 32)
    assert m(x).shape == (1, 3)
    f = m.frozen_features(x)
    assert f.shape == (1, 2, 1024)  # rgb and diff features, concatenated
    m.eval()
    with torch.no_grad():
        torch.testing.assert_close(m.forward_frozen(m.frozen_features(x)), m(x))
        # the per-step loss on cached features ends in the same prediction
        torch.testing.assert_close(m.frozen_step_logits(f)[0, :, -1], m(x))


def test_offline_download_names_the_file(monkeypatch):
    import torchvision

    def offline(self, *a, **k):
        raise OSError("network unreachable")

    monkeypatch.setattr(torchvision.models.WeightsEnum, "get_state_dict", offline)
    with pytest.raises(WeightsError) as e:
        load_backbone("resnet18", None)
    msg = str(e.value)
    assert "resnet18-" in msg and ".pth" in msg and "--backbone-weights" in msg and "\n" not in msg


def test_wrong_weights_file(tmp_path):
    bad = tmp_path / "w.pth"
    torch.save({"something": torch.zeros(1)}, bad)
    with pytest.raises(WeightsError, match="not resnet18 weights"):
        load_backbone("resnet18", str(bad))
