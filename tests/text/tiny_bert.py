"""A tiny random BERT checkpoint (Hugging Face names and shapes): builds in milliseconds."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file
from tokenizers import Tokenizer, pre_tokenizers, processors
from tokenizers.models import WordPiece

from pointsman.text.weights import ModelFiles

TINY = {
    "model_type": "bert",
    "hidden_act": "gelu",
    "hidden_size": 16,
    "num_attention_heads": 2,
    "num_hidden_layers": 2,
    "intermediate_size": 32,
    "layer_norm_eps": 1e-12,
    "vocab_size": 50,
    "max_position_embeddings": 256,
    "type_vocab_size": 2,
}


def tiny_bert_weights(seed: int) -> dict[str, np.ndarray]:
    """Random weights with the names and shapes of a Hugging Face BertModel checkpoint."""
    rng = np.random.default_rng(seed)
    h, f = TINY["hidden_size"], TINY["intermediate_size"]

    def r(*shape: int) -> np.ndarray:
        return rng.normal(0, 0.2, shape).astype(np.float32)

    w = {
        "embeddings.word_embeddings.weight": r(TINY["vocab_size"], h),
        "embeddings.position_embeddings.weight": r(TINY["max_position_embeddings"], h),
        "embeddings.token_type_embeddings.weight": r(2, h),
        "embeddings.LayerNorm.weight": 1 + r(h),
        "embeddings.LayerNorm.bias": r(h),
    }
    for i in range(TINY["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        for name in ("query", "key", "value"):
            w[f"{p}attention.self.{name}.weight"], w[f"{p}attention.self.{name}.bias"] = r(h, h), r(h)
        w[f"{p}attention.output.dense.weight"], w[f"{p}attention.output.dense.bias"] = r(h, h), r(h)
        w[f"{p}attention.output.LayerNorm.weight"], w[f"{p}attention.output.LayerNorm.bias"] = 1 + r(h), r(h)
        w[f"{p}intermediate.dense.weight"], w[f"{p}intermediate.dense.bias"] = r(f, h), r(f)
        w[f"{p}output.dense.weight"], w[f"{p}output.dense.bias"] = r(h, f), r(h)
        w[f"{p}output.LayerNorm.weight"], w[f"{p}output.LayerNorm.bias"] = 1 + r(h), r(h)
    return w


def write_tiny_bert(directory: Path, seed: int = 0) -> ModelFiles:
    directory.mkdir(parents=True, exist_ok=True)
    save_file(tiny_bert_weights(seed), str(directory / "model.safetensors"))
    (directory / "config.json").write_text(json.dumps(TINY))
    tiny_tokenizer().save(str(directory / "tokenizer.json"))
    return ModelFiles(directory)


def tiny_tokenizer() -> Tokenizer:
    """A BERT-style WordPiece tokenizer over the TINY vocabulary: specials, then letters and digits."""
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
    pieces = list("abcdefghijklmnopqrstuvwxyz0123456789.,?!'-")
    vocab = {p: i for i, p in enumerate(specials + pieces + [f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz"])}
    vocab = {p: i for p, i in vocab.items() if i < TINY["vocab_size"]}
    tokenizer = Tokenizer(WordPiece(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])]
    )
    return tokenizer
