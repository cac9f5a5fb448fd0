"""The CLI's choice lists and help are built without torch (issue #13: ``--help`` was slow because every
registry imported torch to list its names). Real imports in a fresh interpreter; no timing."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest

HEAVY = ("torch", "torchvision", "kornia", "cv2", "av", "onnxruntime", "onnx", "numpy", "safetensors", "PIL",
         "matplotlib")


def _modules_after(code: str) -> list[str]:
    """Heavy modules imported by ``code`` in a fresh interpreter."""
    probe = f"import sys, json\n{code}\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]), file=sys.stderr)"
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stderr.strip().splitlines()[-1])


def test_importing_the_cli_imports_no_heavy_module() -> None:
    assert _modules_after("import vidstyle.cli") == []


@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"], ["image", "--help"], ["preview", "--help"],
                                  ["batch", "--help"], ["methods"]])
def test_help_and_method_listing_import_no_heavy_module(argv: list[str]) -> None:
    code = (f"sys.argv = ['vidstyle', *{argv!r}]\nfrom vidstyle.cli import main\n"
            "try:\n    main()\nexcept SystemExit as e:\n    assert e.code in (0, None), e.code")
    assert _modules_after(code) == []


def test_registries_list_names_without_heavy_modules() -> None:
    code = ("from vidstyle.stylise.registry import method_choices, list_methods\n"
            "from vidstyle.flow import available_estimators\nfrom vidstyle.media.codecs import CODECS\n"
            "from vidstyle.config import BACKENDS\n"
            "assert 'magenta' in method_choices() and 'dis-fast' in available_estimators() and 'h264' in CODECS\n"
            "[s.description for s in list_methods()]")
    assert _modules_after(code) == []


def test_every_lazy_builder_and_check_names_a_real_function() -> None:
    from vidstyle.stylise.registry import list_methods

    for spec in list_methods():
        for fn in (spec.builder, spec.can_serve):
            if fn is None:
                continue
            module, _, attr = fn.target.partition(":")
            assert callable(getattr(importlib.import_module(module), attr)), (spec.name, fn.target)


def test_lazy_imports_on_first_call_and_applies_factory_args() -> None:
    from vidstyle.stylise.registry import lazy

    assert lazy("builtins:len")([1, 2, 3]) == 3
    assert lazy("functools:partial", int)("7") == 7  # factory: partial(int) then called with the request
    with pytest.raises(ValueError, match="module:function"):
        lazy("no_colon")


def test_declared_flow_estimators_are_the_ones_their_modules_register() -> None:
    from vidstyle.flow import base

    for module in set(base.ESTIMATORS.values()):
        importlib.import_module(module)
    assert set(base.ESTIMATORS) <= set(base._REGISTRY)
    registered_by_builtin = {n for n, f in base._REGISTRY.items() if f.__module__ in set(base.ESTIMATORS.values())}
    assert registered_by_builtin == set(base.ESTIMATORS)


def test_flow_package_keeps_warp_the_function_after_its_submodule_is_imported() -> None:
    code = ("import vidstyle.flow.warp as _m\nfrom vidstyle.flow.warp import inside_frame\n"
            "from vidstyle.flow import warp, reliability_mask\nimport vidstyle.flow as f\n"
            "assert callable(warp) and f.warp is warp and callable(reliability_mask)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
