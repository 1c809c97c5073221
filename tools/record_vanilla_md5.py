"""Record bitstream MD5s of an unmodified VTM-23.13 EncoderApp on the test clips (tests/golden).

The encoder tests check that pmp-encoder without a guide is bit-exact with vanilla VTM by comparing with
these values. Rerun only on purpose (a VTM bump), with an EncoderApp built from the unpatched tree:

    python tools/record_vanilla_md5.py --encoder /path/to/VTM-23.13/bin/EncoderAppStatic
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from conftest import Clip  # noqa: E402
from pmp_vvc.evaluation.demo import make_demo_clip  # noqa: E402

GOLDEN = ROOT / "tests" / "golden" / "vanilla_md5.json"
POINTS = {"clip128": (128, 128, 2, (37, 32)), "clip_odd": (136, 72, 1, (37,))}


def main() -> int:
    """Encode every golden point with the given vanilla encoder and write the JSON file."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--encoder", required=True, help="vanilla VTM-23.13 EncoderApp")
    args = parser.parse_args()
    result: dict[str, dict[str, str]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (w, h, frames, qps) in POINTS.items():
            out = Path(tmp) / name
            out.mkdir()
            cfg = make_demo_clip(out, width=w, height=h, frames=frames, name=name)
            clip = Clip(cfg=cfg, yuv=next(out.glob(f"{name}_*.yuv")))
            for qp in qps:
                bin_path = out / f"qp{qp}.bin"
                cmd = [args.encoder, *clip.args(qp, bin_path, frames=frames)]
                subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
                result.setdefault(name, {})[str(qp)] = hashlib.md5(bin_path.read_bytes()).hexdigest()
    GOLDEN.write_text(
        json.dumps({"encoder": "VTM-23.13 EncoderApp, unpatched", "md5": result}, indent=2) + "\n"
    )
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
