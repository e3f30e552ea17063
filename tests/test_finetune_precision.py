"""Fine-tuning precision and compilation: --precision bf16 trains, is part of the configuration
and resumes; bf16 where unsupported and a failing --compile are one clear line each.

Real images (a small copy of hymenoptera) at 48 px, 1-2 epochs, no workers.  A real ``torch.compile``
takes minutes on 2 cores: benchmarks/bench_finetune.py runs it; here its failure path is exercised.
"""
from __future__ import annotations

import pytest
import torch

from transferlab import runtime
from transferlab.cli import main
from transferlab.finetune import FinetuneConfig, loop

from conftest import needs_shared_data
from test_finetune import _copy_subset, _rows

pytestmark = needs_shared_data("hymenoptera")
needs_bf16 = pytest.mark.skipif(not runtime.bf16_supported("cpu"), reason="this CPU has no native bfloat16")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return _copy_subset(tmp_path_factory.mktemp("hym"), 8, 6)


def _cfg(data, out, **kw) -> FinetuneConfig:
    base = dict(data=str(data), model="efficientnet_lite0", image_size=48, epochs=1, batch_size=8, workers=0,
                out=str(out), lr=0.01, freeze="6", augment="light", quiet=True, device="cpu")
    return FinetuneConfig(**{**base, **kw})


def _weights(run):
    return torch.load(run / "last.pt", weights_only=True)["model"]


@pytest.mark.bf16
@needs_bf16
def test_bf16_trains_differently_and_resumes_like_an_uninterrupted_run(tiny, tmp_path, capsys):
    fp32 = loop.train(_cfg(tiny, tmp_path / "fp32", epochs=2))
    full = loop.train(_cfg(tiny, tmp_path / "full", epochs=2, precision="bf16"))
    assert full["precision"] == "bfloat16 autocast" and fp32["precision"] == "fp32"
    a, b = _weights(tmp_path / "fp32"), _weights(tmp_path / "full")
    assert any(not torch.equal(a[k], b[k]) for k in a)  # bf16 changes results: it is not a runtime option
    assert all(v.dtype == a[k].dtype for k, v in b.items())  # weights stay fp32 (autocast, not a bf16 model)

    def interrupt(epoch, row):
        if epoch == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        loop.train(_cfg(tiny, tmp_path / "cut", epochs=2, precision="bf16"), callback=interrupt)
    assert main(["finetune", "--resume", str(tmp_path / "cut"), "--precision", "fp32"]) == 2
    assert "--precision" in capsys.readouterr().err
    loop.train(_cfg(tiny, tmp_path / "cut", epochs=2, precision="bf16"), resume=True)
    c = _weights(tmp_path / "cut")
    for k in b:
        torch.testing.assert_close(b[k], c[k], rtol=1e-5, atol=1e-6)
    assert [r["val_loss"] for r in _rows(tmp_path / "full" / "metrics.csv")] == \
           [r["val_loss"] for r in _rows(tmp_path / "cut" / "metrics.csv")]


def test_bf16_where_unsupported_is_one_line_exit_2(tiny, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(runtime, "bf16_support", lambda device: "this CPU has no native bf16 instructions")
    rc = main(["finetune", "--data", str(tiny), "--out", str(tmp_path / "run"), "--precision", "bf16",
               "--image-size", "48", "--epochs", "1", "--device", "cpu", "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "--precision" in err[0] and "no native bf16" in err[0], err
    assert main(["finetune", "--data", str(tiny), "--precision", "fp16"]) == 2
    assert "--precision" in capsys.readouterr().err


def test_failing_compile_is_a_notice_and_trains_as_eager(tiny, tmp_path, monkeypatch, capsys):
    class Broken(torch.nn.Module):
        def forward(self, x):
            raise RuntimeError("backend compiler failed: no C++ compiler\nlong traceback ...")

    eager = loop.train(_cfg(tiny, tmp_path / "eager"))
    monkeypatch.setattr(torch, "compile", lambda net, **kw: Broken())
    capsys.readouterr()
    r = loop.train(_cfg(tiny, tmp_path / "compiled", compile=True))
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("notice: --compile failed") and "no C++ compiler" in err[0], err
    assert r["compile"].startswith("failed") and any("--compile failed" in w for w in r["warnings"])
    a, b = _weights(tmp_path / "eager"), _weights(tmp_path / "compiled")
    assert all(torch.equal(a[k], b[k]) for k in a) and r["accuracy"] == eager["accuracy"]
    saved = FinetuneConfig.load(tmp_path / "compiled" / "config.yaml")
    assert saved.compile is True and "compile" not in FinetuneConfig.runtime_fields()
