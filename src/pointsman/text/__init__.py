"""Text: offline sentence embeddings (MiniLM via onnxruntime) and their on-disk cache."""
