from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from pmp_vvc.cli import export as cli_export  # noqa: E402
from pmp_vvc.errors import ModelError  # noqa: E402
from pmp_vvc.learning.export import export_onnx, parity  # noqa: E402
from pmp_vvc.learning.model import ModelConfig, PartitionNet  # noqa: E402
from pmp_vvc.learning.train import TrainConfig, train  # noqa: E402
from pmp_vvc.modelio import open_session, run_session  # noqa: E402

torch.set_num_threads(1)
LABELS = Path(__file__).resolve().parents[2] / "shared" / "data" / "labels" / "vtm23.13-ai-256"


def _blocks():
    """Real starter-label blocks when available (else random ones), normalised, with mixed QPs."""
    if LABELS.is_dir():
        with np.load(LABELS / "batch000" / "crops.npz") as z:
            plane = z["luma"][0]
        from pmp_vvc.learning.labels import normalise
        from pmp_vvc.modelio import extract_blocks

        origins = np.array([[x, y] for y in range(0, 256, 64) for x in range(0, 256, 64)])
        luma = normalise(extract_blocks(plane, origins), 8)[:, None]
    elif os.environ.get("CI") == "true":
        pytest.fail("starter labels missing (CI=true)")
    else:
        luma = np.random.default_rng(0).random((16, 1, 68, 68), dtype=np.float32)
    return luma, np.tile(np.array([22, 27, 32, 37], np.float32), len(luma) // 4)


@pytest.mark.parametrize("rho", [1.0, 0.5])
def test_export_parity(tmp_path, rho):
    torch.manual_seed(0)
    model = PartitionNet(ModelConfig(rho=rho)).eval()
    path = tmp_path / "m.onnx"
    export_onnx(model, path, metadata={"note": "test"})
    proto = onnx.load(str(path))
    assert max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")) >= 17
    meta = {p.key: p.value for p in proto.metadata_props}
    assert json.loads(meta["model_config"])["rho"] == rho and meta["note"] == "test"
    sess = open_session(path)
    assert [i.name for i in sess.get_inputs()] == ["luma", "qp"]
    luma, qp = _blocks()
    res = parity(model, sess, luma, qp)
    for name in ("qt", "mtt", "direction"):
        assert res[f"{name}_max_abs_diff"] <= 1e-4 and res[f"{name}_argmax_equal"] == 1.0
    for batch in (1, 7):  # dynamic batch axis
        out = run_session(sess, luma[:batch], qp[:batch])
        assert out["qt"].shape == (batch, 4, 8, 8) and out["direction"].shape == (batch, 3, 3, 16, 16)
    if rho < 1:
        assert any(n.op_type == "TopK" for n in proto.graph.node)


def test_bad_model_files(tmp_path):
    (tmp_path / "junk.onnx").write_bytes(b"\x00junk")
    with pytest.raises(ModelError, match="cannot load"):
        open_session(tmp_path / "junk.onnx")
    with pytest.raises(ModelError, match="cannot load"):
        open_session(tmp_path / "missing.onnx")
    other = torch.nn.Linear(4, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # legacy exporter deprecation notice
        torch.onnx.export(
            other,
            (torch.zeros(1, 4),),
            str(tmp_path / "other.onnx"),
            input_names=["x"],
            output_names=["y"],
            dynamo=False,
        )
    with pytest.raises(ModelError, match="inputs"):
        open_session(tmp_path / "other.onnx")
    with pytest.raises(ModelError, match="opset"):
        export_onnx(PartitionNet(), tmp_path / "old.onnx", opset=13)


def test_cli_export(tmp_path, capsys):
    from test_train import SMALL, synthetic

    data = synthetic()
    train(TrainConfig(rho=0.5, epochs=1, batch_size=8), data, data, tmp_path / "run", model_cfg=SMALL)
    out = tmp_path / "m.onnx"
    args = [str(tmp_path / "run" / "last.pt"), "-o", str(out), "--labels", "", "--repeats", "2"]
    code = cli_export.main([*args, "--report", str(tmp_path / "r.json")])
    assert code == 0 and out.is_file()
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["rho"] == 0.5 and 0 < report["macs_per_block"] <= 3e7
    assert report["latency_ms_416x240_batch28"] > 0 and json.loads(capsys.readouterr().out) == report
