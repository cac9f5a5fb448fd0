"""The feed-forward networks: shapes, value ranges, odd sizes, internal resolution."""

from __future__ import annotations

import pytest
import torch

from vidstyle.errors import VidstyleError
from vidstyle.nets.transformer import ARCHS, NetSpec, build_net, count_parameters


def test_full_net_is_johnson_sized():
    # pytorch/examples fast_neural_style TransformerNet has 1,679,235 parameters.
    assert count_parameters(build_net("full")) == 1_679_235


def test_lite_net_is_much_smaller():
    assert count_parameters(build_net("lite")) < count_parameters(build_net("full")) / 20


@pytest.mark.parametrize("arch", ["full", "lite"])
@pytest.mark.parametrize("hw", [(32, 32), (37, 51), (21, 18)])
def test_shapes_and_range(arch, hw):
    net = _randomised(arch)
    x = torch.rand(2, 3, *hw)
    with torch.no_grad():
        y = net(x)
    assert y.shape == x.shape
    assert y.min() >= 0 and y.max() <= 1
    assert torch.isfinite(y).all()


def test_tiny_input_smaller_than_padding():
    with torch.no_grad():
        y = build_net("lite").eval()(torch.rand(1, 3, 3, 5))
    assert y.shape == (1, 3, 3, 5)


def test_internal_size_runs_smaller_and_upsamples():
    net = build_net("lite").eval()
    seen = []
    net.encoder.register_forward_hook(lambda m, i, o: seen.append(i[0].shape[-2:]))
    with torch.no_grad():
        y = net.stylise(torch.rand(1, 3, 90, 160), internal_size=80)
    assert y.shape == (1, 3, 90, 160)
    assert tuple(seen[0]) == (48, 80)  # 45×80 padded to a multiple of 4
    assert y.min() >= 0 and y.max() <= 1


def _randomised(arch):
    """A net whose zero-initialised output conv is randomised (a fresh residual net is the identity)."""
    net = build_net(arch, residual=True).eval()
    torch.nn.init.normal_(net.decoder[-1][-1].weight, std=0.05)
    return net


def test_fresh_residual_net_is_the_identity():
    x = torch.rand(1, 3, 20, 28) * 0.9 + 0.05
    with torch.no_grad():
        torch.testing.assert_close(build_net("full", residual=True).eval()(x), x, atol=1e-5, rtol=0)


def test_batch_items_are_independent():
    # Instance norm: a frame's output must not depend on the other frames of the batch.
    net = _randomised("lite")
    a, b = torch.rand(1, 3, 24, 24), torch.rand(1, 3, 24, 24)
    with torch.no_grad():
        together = net(torch.cat([a, b]))
        alone = net(a)
    torch.testing.assert_close(together[:1], alone, atol=1e-5, rtol=1e-4)


def test_spec_metadata_round_trip():
    spec = NetSpec("lite", 8, 3, residual=True)
    assert NetSpec.from_metadata(spec.to_metadata()) == spec
    with pytest.raises(VidstyleError, match="width/blocks"):
        NetSpec.from_metadata({"arch": "full"})


def test_unknown_arch_is_a_clear_error():
    with pytest.raises(VidstyleError, match="unknown network architecture"):
        build_net("huge")
    assert set(ARCHS) == {"full", "lite"}
