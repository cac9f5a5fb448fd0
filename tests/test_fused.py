"""The fused inference forms compute the same function as the layers they replace."""

import pytest
import torch
from torch import nn

from vidstyle.nets.fused import PhaseUpsampleConv, SpaceToDepthConv, fuse_for_inference
from vidstyle.nets.transformer import build_net


def _perturbed(net: nn.Module) -> nn.Module:
    """Non-trivial weights everywhere (fresh instance norms are the identity affine)."""
    g = torch.Generator().manual_seed(0)
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.InstanceNorm2d)):
            m.weight.data.add_(0.1 * torch.randn(m.weight.shape, generator=g))
            m.bias.data.add_(0.1 * torch.randn(m.bias.shape, generator=g))
    return net.eval()


@pytest.mark.parametrize("hw", [(16, 24), (13, 7), (5, 6)])
@pytest.mark.parametrize("factor", [2, 3])
def test_space_to_depth_conv_equals_padded_conv(hw, factor):
    conv = nn.Conv2d(4, 3, 9)
    x = torch.rand(2, 4, *hw)
    want = conv(nn.functional.pad(x, (4, 4, 4, 4), mode="reflect"))
    assert torch.allclose(SpaceToDepthConv(conv, factor)(x), want, atol=1e-5)


@pytest.mark.parametrize("hw", [(6, 10), (1, 3)])
def test_phase_upsample_conv_equals_upsample_pad_conv(hw):
    conv = nn.Conv2d(5, 4, 3)
    x = torch.rand(2, 5, *hw)
    up = nn.functional.interpolate(x, scale_factor=2, mode="nearest")
    want = conv(nn.functional.pad(up, (1, 1, 1, 1), mode="reflect"))
    got = PhaseUpsampleConv(conv)(x)
    assert got.shape == want.shape
    assert torch.allclose(got, want, atol=1e-5)


@pytest.mark.parametrize("arch", ["full", "lite"])
@pytest.mark.parametrize("residual", [False, True])
def test_fused_net_matches_the_trained_net(arch, residual):
    net = _perturbed(build_net(arch, residual=residual))
    fused = fuse_for_inference(net)
    x = torch.rand(2, 3, 37, 52)
    with torch.no_grad():
        assert (fused(x) - net(x)).abs().max() < 1e-5
    assert any(isinstance(m, nn.Upsample) for m in net.modules()), "the original is left untouched"
    assert not any(p.requires_grad for p in fused.parameters())
