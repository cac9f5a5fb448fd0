"""Losses on small hand-checked tensors."""

from __future__ import annotations

import pytest
import torch

from vidstyle.losses import content_loss, gram_matrix, style_loss, temporal_loss, tv_loss


def test_gram_matrix_known_values():
    f = torch.tensor([[1.0, 2.0], [0.0, 1.0]]).view(1, 2, 1, 2)  # C=2, H=1, W=2
    g = gram_matrix(f)
    expected = torch.tensor([[5.0, 2.0], [2.0, 1.0]]) / (2 * 1 * 2)
    assert torch.allclose(g[0], expected)


def test_gram_is_symmetric_and_batched():
    f = torch.rand(3, 4, 5, 6)
    g = gram_matrix(f)
    assert g.shape == (3, 4, 4)
    assert torch.allclose(g, g.transpose(1, 2))


def test_content_loss_and_relative_scaling():
    a, b = torch.zeros(1, 2, 2, 2), torch.full((1, 2, 2, 2), 2.0)
    assert content_loss(a, b).item() == pytest.approx(4.0)
    assert content_loss(a, b, relative=True).item() == pytest.approx(1.0)
    assert content_loss(10 * a, 10 * b, relative=True).item() == pytest.approx(1.0)


def test_style_loss_weights_and_relative():
    g = {"a": torch.eye(2).unsqueeze(0), "b": torch.zeros(1, 2, 2)}
    t = {"a": 2 * torch.eye(2).unsqueeze(0), "b": torch.ones(1, 2, 2)}
    assert style_loss(g, t, {"a": 1.0, "b": 0.0}).item() == pytest.approx(2.0)
    assert style_loss(g, t).item() == pytest.approx((2.0 + 4.0) / 2)
    assert style_loss(g, t, {"a": 1.0, "b": 1.0}, relative=True).item() == pytest.approx(2.0 / 8.0 + 4.0 / 4.0)
    assert style_loss(t, t).item() == 0.0


def test_tv_loss():
    flat = torch.full((1, 3, 4, 4), 0.5)
    assert tv_loss(flat).item() == 0.0
    x = torch.zeros(1, 1, 2, 2)
    x[..., 1] = 1.0  # a vertical edge: horizontal diffs all 1, vertical all 0
    assert tv_loss(x).item() == pytest.approx(1.0)


def test_temporal_loss_zero_when_warped_matches_and_masked():
    out = torch.rand(1, 3, 4, 4)
    mask = torch.ones(1, 1, 4, 4)
    assert temporal_loss(out, out, mask).item() == 0.0
    other = out + 0.1
    assert temporal_loss(out, other, mask).item() == pytest.approx(0.01, rel=1e-4)
    assert temporal_loss(out, other, torch.zeros_like(mask)).item() == 0.0
