"""The packaged embedder: all-MiniLM-L6-v2 as int8 ONNX, run with onnxruntime + tokenizers.

No torch and no download at run time: the model ships inside shipyard (built once by
scripts/export_embedder.py; its manifest records the recipe and hashes). Outputs match
sentence-transformers: WordPiece up to 256 tokens, mean pooling over real tokens, L2 norm.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from shipyard.knowledge.errors import EmbedderError
from shipyard.knowledge.tokens import PACKAGED_MODEL

__all__ = ["DEFAULT_BATCH_SIZE", "PACKAGED_MODEL", "OnnxEmbedder"]

# One text per run. The int8 model quantizes activations per run, so batch-mates (and their
# padding) moved a text's vector by up to 0.027 in cosine; alone, every text gets the same vector
# wherever it is embedded (cacheable by content hash), 0.994 mean cosine to the fp32 original, and
# on 2 cores it was no slower: 337 texts/s alone vs 293 in batches of 32.
DEFAULT_BATCH_SIZE = 1


class OnnxEmbedder:
    def __init__(
        self, model_dir: Path = PACKAGED_MODEL, *, batch_size: int = DEFAULT_BATCH_SIZE, threads: int = 0
    ) -> None:
        """`threads=0` lets onnxruntime use every core; the model loads on first use (or warm_up())."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        manifest_path = model_dir / "manifest.json"
        if not manifest_path.exists():
            raise EmbedderError(f"no embedding model at {model_dir} (manifest.json missing)")
        self._dir = model_dir
        self.manifest: dict[str, Any] = json.loads(manifest_path.read_text())
        self.name: str = self.manifest["name"]
        self.dimension: int = int(self.manifest["dimension"])
        self._max_length = int(self.manifest["max_sequence_length"])
        self._batch_size = batch_size
        self._threads = threads
        self._session: Any = None
        self._quiet_session: Any = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()

    @property
    def declared_dimension(self) -> int:
        return self.dimension

    def warm_up(self) -> None:
        """Load the tokenizer and the ONNX session (0.5 s); safe to call from several threads."""
        with self._lock:
            if self._session is not None:
                return
            try:
                import onnxruntime
                from tokenizers import Tokenizer

                tokenizer = Tokenizer.from_file(str(self._dir / "tokenizer.json"))
                # The bundled tokenizer.json pads and truncates at 128; sentence-transformers uses
                # 256 and pads to the longest text of the batch.
                tokenizer.enable_truncation(max_length=self._max_length)
                tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
                # Two sessions of the same model. Batches (ingestion) run on one whose idle threads
                # spin between runs: 16% more texts/s. A single text (a search query) runs on one
                # whose threads sleep: a spinning pool slowed the numpy search right after the
                # query's embedding ten-fold (2.5 ms instead of 0.2 ms for 3k vectors).
                session, quiet = (self._session_of(onnxruntime, spinning) for spinning in (True, False))
            except Exception as exc:  # noqa: BLE001 - any load failure means "no embedder"
                raise EmbedderError(f"cannot load the embedding model from {self._dir}: {exc}") from exc
            self._tokenizer, self._session, self._quiet_session = tokenizer, session, quiet

    def _session_of(self, onnxruntime: Any, spinning: bool) -> Any:
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = self._threads
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
        return onnxruntime.InferenceSession(str(self._dir / "model.onnx"), options, providers=["CPUExecutionProvider"])

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        if self._session is None:
            self.warm_up()
        output = np.empty((len(texts), self.dimension), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        session = self._session if len(texts) > 1 else self._quiet_session
        for start in range(0, len(order), self._batch_size):
            indices = order[start : start + self._batch_size]
            output[indices] = self._embed_batch([texts[i] for i in indices], session)
        return output

    def _embed_batch(self, texts: list[str], session: Any) -> NDArray[np.float32]:
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        types = np.zeros_like(ids)
        try:
            (hidden,) = session.run(
                ["last_hidden_state"], {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
            )
        except Exception as exc:  # noqa: BLE001
            raise EmbedderError(f"the embedding model failed: {exc}") from exc
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        normalised: NDArray[np.float32] = (pooled / np.maximum(norms, 1e-12)).astype(np.float32)
        return normalised
