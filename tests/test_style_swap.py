"""Style swap (vidstyle.stylise.style_swap, Chen & Schmidt 2016): the patch swap on tiny tensors, the styliser with
an injected random decoder, and `vidstyle image --method style-swap` end to end."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from vidstyle.errors import VidstyleError
from vidstyle.stylise.style_swap import StyleSwapStyliser, style_patches, style_swap


def _features(seed: int, c: int = 8, h: int = 7, w: int = 9) -> torch.Tensor:
    return torch.randn(1, c, h, w, generator=torch.Generator().manual_seed(seed))


def test_swapping_features_with_their_own_patches_gives_them_back():
    """Each content patch's best match among its own patches is itself (Cauchy–Schwarz), and overlapping copies of
    the same patch average to the original."""
    f = _features(0)
    torch.testing.assert_close(style_swap(f, style_patches(f)), f, atol=1e-5, rtol=1e-5)


def test_chunks_do_not_change_the_result_and_output_is_made_of_style_patches():
    content, style = _features(1), _features(2, h=6, w=6)
    patches = style_patches(style)
    assert patches.shape == (16, 8, 3, 3)
    whole = style_swap(content, patches, chunk=10_000)
    torch.testing.assert_close(style_swap(content, patches, chunk=3), whole)
    one = style_patches(torch.ones(1, 8, 3, 3) * 0.5)  # a single, flat style patch: everything becomes it
    torch.testing.assert_close(style_swap(content, one), torch.full_like(content, 0.5))
    assert not torch.allclose(whole, content)


def test_too_small_inputs_are_one_clear_error():
    with pytest.raises(VidstyleError, match="too small"):
        style_patches(torch.zeros(1, 8, 2, 5))
    with pytest.raises(VidstyleError, match="too small"):
        style_swap(torch.zeros(1, 8, 2, 2), style_patches(_features(3)))


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    from test_arbitrary import _write_decoder

    from vidstyle.nets.vgg import load_vgg

    path = tmp_path_factory.mktemp("dec") / "wct-relu3_1.safetensors"
    _write_decoder(path, "relu3_1")
    return {"decoder": path, "encoder": load_vgg(["relu3_1"])}


def test_styliser_shapes_strength_and_determinism(parts):
    g = torch.Generator().manual_seed(4)
    styles = [torch.rand(1, 3, 40, 48, generator=g)]
    frames = torch.rand(2, 3, 30, 37, generator=g)
    full = StyleSwapStyliser(styles, **parts)
    out = full.stylise(frames)
    assert out.shape == frames.shape and out.min() >= 0 and out.max() <= 1
    assert torch.equal(out[1:], full.stylise(frames[1:]))  # a frame does not depend on its batch
    none = StyleSwapStyliser(styles, alpha=0.0, **parts).stylise(frames)
    assert (none - out).abs().mean() > 1e-3  # strength 0 decodes the frame's own features
    full.set_strength(0.0)
    torch.testing.assert_close(full.stylise(frames), none)
    with pytest.raises(VidstyleError, match="strength"):
        full.set_strength(1.5)


def test_cli_image_style_swap(cli, tmp_path):
    """The shipped relu3_1 inversion decoder and VGG, a 48 px photo: one output, the method line names it."""
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(tmp_path / "photo.png")
    Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(tmp_path / "style.png")
    code, _, err = cli("image", tmp_path / "photo.png", "-s", tmp_path / "style.png", "--method", "style-swap",
                       "--size", "48", "-o", tmp_path / "out.png")
    assert code == 0, err
    assert "style-swap: Chen & Schmidt 2016" in err
    assert Image.open(tmp_path / "out.png").size == (48, 36)
    code, _, err = cli("image", tmp_path / "photo.png", "-s", tmp_path / "style.png", "--method", "style-swap",
                       "--style-scale", "2", "-o", tmp_path / "out2.png")
    assert code != 0 and "style-swap takes no --style-scale" in err and "Traceback" not in err
