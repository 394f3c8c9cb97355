"""Lazy package attributes: cheap imports, every advertised name resolves, unknown names fail."""

import importlib
import subprocess
import sys

import pytest

PACKAGES = [
    "retinacodec",
    "retinacodec.models",
    "retinacodec.modes",
    "retinacodec.pipelines.imagenet",
    "retinacodec.io",
]


def test_importing_the_packages_loads_neither_torch_nor_pynwb():
    code = (
        f"import sys\nfor name in {PACKAGES!r}: __import__(name)\n"
        "print(sorted(m for m in ('torch', 'pynwb') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("package", PACKAGES)
def test_every_public_name_resolves_and_unknown_names_are_attribute_errors(package):
    module = importlib.import_module(package)
    for name in module.__all__:
        assert getattr(module, name) is not None, name
    with pytest.raises(AttributeError, match=f"module '{package}' has no attribute 'no_such_name'"):
        module.no_such_name
