"""MRF, histogram, Laplacian and region losses (vidstyle.losses_extra) on tiny tensors: zero at the target,
positive elsewhere, gradients correct (gradcheck in float64), masked MRF/histogram blind to what lies outside
their mask, and wired through the optimiser's criterion (with a pixel-wise stand-in encoder)."""

from __future__ import annotations

import pytest
import torch

from vidstyle.config import OptimiseConfig
from vidstyle.losses import gram_matrix
from vidstyle.losses_extra import (
    extract_patches,
    histogram_loss,
    histogram_match,
    laplacian_loss,
    laplacian_of_pooled,
    masked_gram,
    masked_histogram_match,
    mrf_loss,
    patch_weights,
    region_histogram_loss,
    region_mrf_loss,
    region_patches,
    region_sorted,
    region_style_loss,
    sorted_channels,
)
from vidstyle.stylise.optimise import GatysCriterion, extra_targets


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


# ----------------------------------------------------------------------------- masked MRF / histogram


def _halves(h=8, w=10, dtype=torch.float64) -> torch.Tensor:
    """``2×1×h×w``: the left half (columns < w/2), then the right half."""
    left = torch.zeros(1, 1, h, w, dtype=dtype)
    left[..., : w // 2] = 1
    return torch.cat([left, 1 - left])


def _replace_right(f: torch.Tensor, seed: int) -> torch.Tensor:
    g = f.clone()
    g[..., g.shape[-1] // 2:] = _feats(seed, (*g.shape[:-1], g.shape[-1] - g.shape[-1] // 2))
    return g


def test_patch_weights_min_is_whole_patches_inside():
    m = _halves()[:1]
    w = patch_weights(m, 3).view(6, 8)  # patches start at columns 0..7; inside the left half (0..4): starts 0..2
    assert torch.equal(w[:, :3], torch.ones(6, 3, dtype=m.dtype)) and w[:, 3:].abs().sum() == 0
    mean = patch_weights(m, 3, reduce="mean").view(6, 8)
    assert mean[0, 3].item() == pytest.approx(2 / 3) and mean[0, 4].item() == pytest.approx(1 / 3)


def test_masked_mrf_zero_at_target_blind_outside_positive_inside():
    s, masks = _feats(0, (1, 4, 8, 10)), _halves()
    left = masks[:1]
    bank = region_patches(s, left)[0]
    assert len(bank) == 6 * 3  # only whole patches of the left half
    assert mrf_loss(s, bank, mask=left).item() == pytest.approx(0.0, abs=1e-12)
    assert mrf_loss(s, bank).item() > 1e-3  # unmasked, the right half's patches are not in this bank
    assert mrf_loss(_replace_right(s, 7), bank, mask=left).item() == pytest.approx(0.0, abs=1e-12)
    g = s.clone()
    g[..., 1, :2] += 1.0  # inside the mask
    assert mrf_loss(g, bank, mask=left).item() > 1e-3


def test_masked_mrf_with_a_full_mask_is_the_mrf():
    s, x = _feats(0, (1, 3, 7, 7)), _feats(1, (1, 3, 7, 7))
    bank = extract_patches(s)
    full = torch.ones(1, 1, 7, 7, dtype=s.dtype)
    assert mrf_loss(x, bank, mask=full).item() == pytest.approx(mrf_loss(x, bank).item(), rel=1e-12)
    assert torch.equal(region_patches(s, full)[0], bank)


def test_region_mrf_matches_each_region_to_its_own_style_region():
    # the output has the style's right half on the left and vice versa, and region masks that say so
    s = _feats(0, (1, 4, 8, 10))
    smasks = _halves()
    swapped = torch.cat([s[..., 5:], s[..., :5]], dim=-1)
    omasks = smasks.flip(0)  # output region 0 (= style's left) is now the right half
    banks = region_patches(s, smasks)
    assert region_mrf_loss(swapped, banks, omasks, [0.5, 0.5]).item() == pytest.approx(0.0, abs=1e-12)
    assert region_mrf_loss(swapped, banks, smasks, [0.5, 0.5]).item() > 1e-3  # wrong pairing


def test_masked_mrf_gradient_flows_inside_only_and_gradchecks():
    bank = extract_patches(_feats(0, (1, 2, 5, 6)))
    mask = torch.zeros(1, 1, 5, 6, dtype=torch.float64)
    mask[..., :4] = torch.linspace(0.2, 1.0, 4, dtype=torch.float64)  # soft, zero in the last two columns
    x = _feats(1, (1, 2, 5, 6)).requires_grad_(True)
    mrf_loss(x, bank, mask=mask).backward()
    assert x.grad[..., :4].abs().sum() > 0 and x.grad[..., 4:].abs().sum() == 0
    assert torch.autograd.gradcheck(lambda t: mrf_loss(t, bank, mask=mask), (x.detach().requires_grad_(True),),
                                    eps=1e-6, atol=1e-5)


def test_masked_histogram_match_with_equal_weights_is_histogram_match():
    x, s = _feats(1, (1, 3, 6, 7)), _feats(2, (1, 3, 5, 4)) * 3
    ss = sorted_channels(s)
    ones = torch.ones(42, dtype=x.dtype)
    assert torch.allclose(masked_histogram_match(x[0].flatten(1), ones, ss), histogram_match(x, ss)[0].flatten(1))
    full = torch.ones(1, 1, 6, 7, dtype=x.dtype)
    assert histogram_loss(x, ss, mask=full).item() == pytest.approx(histogram_loss(x, ss).item(), rel=1e-10)


def test_masked_histogram_zero_at_target_blind_outside_positive_inside():
    s, masks = _feats(0, (1, 4, 8, 10)), _halves()
    left = masks[:1]
    ss = region_sorted(s, left)[0]
    assert ss.shape == (4, 8 * 5)
    assert histogram_loss(s, ss, mask=left).item() == pytest.approx(0.0, abs=1e-12)
    assert histogram_loss(s, ss).item() > 1e-4  # unmasked, the right half's values count too
    assert histogram_loss(_replace_right(s, 7), ss, mask=left).item() == pytest.approx(0.0, abs=1e-12)
    perm = s.clone()  # the left half's values shuffled within it: the same histogram
    idx = torch.randperm(40, generator=torch.Generator().manual_seed(4))
    perm[..., :5] = s[..., :5].flatten(2)[..., idx].view(1, 4, 8, 5)
    assert histogram_loss(perm, ss, mask=left).item() == pytest.approx(0.0, abs=1e-12)
    g = s.clone()
    g[..., :5] = g[..., :5] * 0.5 + 0.4
    assert histogram_loss(g, ss, mask=left).item() > 1e-3


def test_region_histogram_pairs_regions():
    s = _feats(0, (1, 4, 8, 10))
    s[..., 5:] += 2.0  # the right region has other values
    smasks = _halves()
    swapped = torch.cat([s[..., 5:], s[..., :5]], dim=-1)
    sorted_r = region_sorted(s, smasks)
    assert region_histogram_loss(swapped, sorted_r, smasks.flip(0), [0.5, 0.5]).item() == pytest.approx(0.0, abs=1e-12)
    assert region_histogram_loss(swapped, sorted_r, smasks, [0.5, 0.5]).item() > 1e-2


def test_masked_histogram_gradient_flows_inside_only_and_gradchecks():
    ss = sorted_channels(_feats(0, (1, 2, 4, 4)))
    mask = torch.zeros(1, 1, 4, 5, dtype=torch.float64)
    mask[..., :3] = torch.tensor([0.3, 0.7, 1.0], dtype=torch.float64)
    x = _feats(1, (1, 2, 4, 5)).requires_grad_(True)
    histogram_loss(x, ss, mask=mask).backward()
    assert x.grad[..., :3].abs().sum() > 0 and x.grad[..., 3:].abs().sum() == 0
    assert torch.autograd.gradcheck(lambda t: histogram_loss(t, ss, mask=mask), (x.detach().requires_grad_(True),),
                                    eps=1e-6, atol=1e-5)


def test_an_empty_style_region_is_an_error():
    s = _feats(0, (1, 2, 6, 6))
    empty = torch.zeros(1, 1, 6, 6, dtype=s.dtype)
    with pytest.raises(ValueError, match="no pixels"):
        region_patches(s, empty)
    with pytest.raises(ValueError, match="no pixels"):
        region_sorted(s, empty)
    sliver = empty.clone()
    sliver[..., 0] = 1  # one column: no whole 3×3 patch, so the patches covering it most
    assert len(region_patches(s, sliver)[0]) == 4


class PixelEncoder(torch.nn.Module):
    """A stand-in for VGG with no receptive field: every "layer" is the image itself (what lies outside a
    mask cannot leak into features inside it). Images are 16×20: extra_targets resizes styles to ≥ 16 px."""

    def forward(self, x, layers):
        return {n: x for n in layers}


def test_criterion_masks_mrf_and_histogram_to_the_matte():
    cfg = OptimiseConfig(content_weight=0.0, style_weight=0.0, tv_weight=0.0, mrf_weight=1.0, histogram_weight=1.0,
                         mrf_layers=("relu3_1",), histogram_layers=("relu1_1",))
    enc = PixelEncoder()
    style = _feats(0, (1, 3, 16, 20), torch.float32)
    matte = _halves(16, 20, dtype=torch.float32)[:1]
    extras = extra_targets(enc, [style], cfg, 20, None, [torch.ones(1, 1, 16, 20)])
    crit = GatysCriterion(enc, cfg, {}, {}, region_masks=matte, region_weights=[1.0], **extras)
    x = _feats(1, (1, 3, 16, 20), torch.float32)
    base = crit(x)
    moved = crit(_replace_right(x, 9).float())
    assert base["mrf"] > 0 and base["histogram"] > 0
    assert moved["mrf"].item() == pytest.approx(base["mrf"].item(), rel=1e-6)
    assert moved["histogram"].item() == pytest.approx(base["histogram"].item(), rel=1e-6)
    inside = x.clone()
    inside[..., :10] = style[..., :10]
    assert crit(inside)["mrf"].item() < 1e-6  # the style's own patches, inside the matte


def test_criterion_semantic_regions_pair_mrf_and_histogram():
    cfg = OptimiseConfig(content_weight=0.0, style_weight=0.0, tv_weight=0.0, mrf_weight=1.0, histogram_weight=1.0,
                         mrf_layers=("relu3_1",), histogram_layers=("relu1_1",))
    enc = PixelEncoder()
    style = _feats(0, (1, 3, 16, 20), torch.float32)
    style[:, 0, :, :10] += 1.0  # the left region is redder
    smasks = _halves(16, 20, dtype=torch.float32)
    extras = extra_targets(enc, [style], cfg, 20, None, [smasks])
    swapped = torch.cat([style[..., 10:], style[..., :10]], dim=-1)
    right_pairing = GatysCriterion(enc, cfg, {}, {}, region_masks=smasks.flip(0), region_weights=[0.5, 0.5], **extras)
    wrong_pairing = GatysCriterion(enc, cfg, {}, {}, region_masks=smasks, region_weights=[0.5, 0.5], **extras)
    good, bad = right_pairing(swapped), wrong_pairing(swapped)
    assert good["mrf"].item() < 1e-6 and good["histogram"].item() < 1e-6
    assert bad["mrf"].item() > 1e-2 and bad["histogram"].item() > 1e-2
