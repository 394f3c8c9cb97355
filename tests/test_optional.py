"""Optional dependencies: a missing one is named with the extra that installs it."""

from __future__ import annotations

import sys

import pytest

from retinacodec import RetinaCodecError
from retinacodec._optional import require


def test_require_returns_the_module():
    assert require("json", "none", "reading JSON") is sys.modules["json"]


def test_a_missing_package_names_its_extra():
    with pytest.raises(
        RetinaCodecError, match=r"a Dask cluster needs the optional package 'no_such_pkg'.*retinacodec\[dask\]"
    ):
        require("no_such_pkg.sub", "dask", "a Dask cluster")


def test_dask_cluster_without_distributed_says_which_extra(monkeypatch):
    from retinacodec.parallel.cluster import dask_client

    monkeypatch.setitem(sys.modules, "distributed", None)  # import fails as if not installed
    with pytest.raises(RetinaCodecError, match=r"pip install 'retinacodec\[dask\]'"):
        with dask_client(workers=None, scheduler="tcp://127.0.0.1:1"):
            pass
