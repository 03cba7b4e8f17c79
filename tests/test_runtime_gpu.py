"""On a CUDA machine: sessions really on the CUDA provider, and the same probabilities as the CPU."""

import numpy as np
import pytest
from helpers import cuda_works

from lrcn.runtime import VideoClassifier
from lrcn.runtime.session import CPU, CUDA, SessionConfig, SessionFactory

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not cuda_works(), reason="needs a CUDA GPU and onnxruntime-gpu")]


@pytest.mark.parametrize("device", ["auto", "cuda"])
def test_session_really_runs_on_cuda(fake, device):
    f = SessionFactory(SessionConfig(device=device))
    sess = f.create(fake)
    assert sess.get_providers()[0] == CUDA and f.note is None


def test_cuda_matches_cpu(fake, tiny_data):
    video = next(tiny_data.rglob("*.avi"))
    cpu, gpu = VideoClassifier(fake, device="cpu"), VideoClassifier(fake, device="cuda")
    assert cpu.providers == [CPU] and gpu.providers[0] == CUDA
    np.testing.assert_allclose(gpu.predict(video).probs, cpu.predict(video).probs, atol=1e-4)
    a = [p.probs for p in cpu.stream(video, sample_fps=0) if p.ready]
    b = [p.probs for p in gpu.stream(video, sample_fps=0) if p.ready]
    np.testing.assert_allclose(np.stack(b), np.stack(a), atol=1e-4)


@pytest.mark.slow
def test_exported_model_cuda_matches_cpu(exported_tiny_run, tiny_data):
    videos = sorted(tiny_data.rglob("*.avi"))[:6]
    cpu, gpu = VideoClassifier(exported_tiny_run, device="cpu"), VideoClassifier(exported_tiny_run, device="cuda")
    for v in videos:
        np.testing.assert_allclose(gpu.predict(v).probs, cpu.predict(v).probs, atol=1e-4)
