"""MRF, histogram, Laplacian and region losses (vidstyle.losses_extra) on tiny tensors: zero at the target,
positive elsewhere, gradients correct (gradcheck in float64), and wired through the optimiser."""

from __future__ import annotations

import pytest
import torch

from vidstyle.losses import gram_matrix
from vidstyle.losses_extra import (extract_patches, histogram_loss, histogram_match, laplacian_loss,
                                   laplacian_of_pooled, masked_gram, mrf_loss, region_style_loss, sorted_channels)


def _feats(seed: int, shape=(1, 4, 6, 7), dtype=torch.float64) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


# ----------------------------------------------------------------------------- MRF


def test_mrf_zero_at_its_own_patches_positive_elsewhere():
    s = _feats(0)
    bank = extract_patches(s, 3)
    assert bank.shape == ((6 - 2) * (7 - 2), 4 * 9)
    assert mrf_loss(s, bank).item() == pytest.approx(0.0, abs=1e-12)
    assert mrf_loss(_feats(1), bank).item() > 1e-3


def test_mrf_matches_by_normalised_cross_correlation():
    # a style bank with a patch and a 10× brighter copy of another: NCC ignores the scale
    a = torch.zeros(1, 1, 3, 3, dtype=torch.float64)
    a[..., 0, :] = 1.0
    b = torch.zeros(1, 1, 3, 3, dtype=torch.float64)
    b[..., :, 0] = 1.0
    bank = torch.cat([extract_patches(a), extract_patches(b * 10)])
    loss = mrf_loss(b, bank, relative=False)  # matched to 10·b, not to a (which is nearer in L2)
    assert loss.item() == pytest.approx(((b - 10 * b) ** 2).mean().item())


def test_mrf_gradcheck():
    bank = extract_patches(_feats(0, (1, 2, 5, 5)))
    x = _feats(1, (1, 2, 5, 5)).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: mrf_loss(t, bank), (x,), eps=1e-6, atol=1e-5)


# ----------------------------------------------------------------------------- histogram


def test_histogram_zero_for_a_permutation_of_the_style_positive_otherwise():
    s = _feats(0)
    perm = s.flatten(2)[..., torch.randperm(42, generator=torch.Generator().manual_seed(3))].view_as(s)
    ss = sorted_channels(s)
    assert histogram_loss(s, ss).item() == pytest.approx(0.0, abs=1e-12)
    assert histogram_loss(perm, ss).item() == pytest.approx(0.0, abs=1e-12)  # same histogram, other layout
    assert histogram_loss(_feats(1) * 0.5 + 0.3, ss).item() > 1e-3


def test_histogram_match_gives_the_style_distribution_and_keeps_ranks():
    x, s = _feats(1, (1, 3, 8, 8)), _feats(2, (1, 3, 5, 6)) * 4 - 1  # different size and range
    t = histogram_match(x, sorted_channels(s))
    for c in range(3):
        assert t[0, c].min().item() == pytest.approx(s[0, c].min().item())
        assert t[0, c].max().item() == pytest.approx(s[0, c].max().item())
        assert torch.equal(t[0, c].flatten().argsort(), x[0, c].flatten().argsort())


def test_histogram_fixes_what_gram_misses():
    # equal Gram matrices, different histograms (Risser et al.'s motivating case): x and −x
    s = _feats(0) - 0.5
    assert torch.allclose(gram_matrix(s), gram_matrix(-s))
    assert histogram_loss(-s, sorted_channels(s)).item() > 1e-2


def test_histogram_gradcheck():
    ss = sorted_channels(_feats(0, (1, 2, 4, 4)))
    x = _feats(1, (1, 2, 4, 4)).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: histogram_loss(t, ss), (x,), eps=1e-6, atol=1e-5)


# ----------------------------------------------------------------------------- Laplacian


def test_laplacian_zero_at_content_positive_otherwise():
    c = _feats(0, (1, 3, 16, 16))
    targets = {p: laplacian_of_pooled(c, p) for p in (1, 4)}
    assert laplacian_loss(c, targets, (1, 4)).item() == pytest.approx(0.0, abs=1e-12)
    assert laplacian_loss(_feats(1, (1, 3, 16, 16)), targets, (1, 4)).item() > 1e-2
    # a constant shift has the same Laplacian: the loss is about structure, not colour
    assert laplacian_loss(c + 0.1, targets, (1, 4)).item() == pytest.approx(0.0, abs=1e-12)


def test_laplacian_gradcheck():
    target = laplacian_of_pooled(_feats(0, (1, 3, 8, 8)), 2)
    x = _feats(1, (1, 3, 8, 8)).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: laplacian_loss(t, target, (2,)), (x,), eps=1e-6, atol=1e-5)


# ----------------------------------------------------------------------------- regions


def test_masked_gram_with_full_mask_is_the_gram():
    f = _feats(0)
    assert torch.allclose(masked_gram(f, torch.ones(1, 1, 6, 7, dtype=f.dtype)), gram_matrix(f))


def test_region_loss_zero_at_target_and_sees_only_its_region():
    f = _feats(0, (1, 4, 8, 8))
    left = torch.zeros(1, 1, 8, 8, dtype=f.dtype)
    left[..., :4] = 1
    masks = torch.cat([left, 1 - left])
    targets = {"l": torch.cat([masked_gram(f, left), masked_gram(f, 1 - left)])}
    assert region_style_loss({"l": f}, masks, targets, [0.5, 0.5]).item() == pytest.approx(0.0, abs=1e-12)
    g = f.clone()
    g[..., 4:] = _feats(5, (1, 4, 8, 4))  # change only the right half
    assert region_style_loss({"l": g}, masks[:1], {"l": targets["l"][:1]}, [1.0]).item() == pytest.approx(0.0, abs=1e-12)
    assert region_style_loss({"l": g}, masks, targets, [0.5, 0.5]).item() > 1e-3


def test_region_loss_gradcheck():
    f = _feats(0, (1, 2, 4, 4)).requires_grad_(True)
    masks = torch.zeros(2, 1, 8, 8, dtype=f.dtype)
    masks[0, :, :4] = 1
    masks[1, :, 4:] = 1
    targets = {"l": torch.rand(2, 2, 2, dtype=f.dtype, generator=torch.Generator().manual_seed(1))}
    assert torch.autograd.gradcheck(lambda t: region_style_loss({"l": t}, masks, targets, [0.3, 0.7]), (f,),
                                    eps=1e-6, atol=1e-5)
