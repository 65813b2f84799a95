"""Routing data: the RoutingDataset, loaders for the public formats, leak-free splits, cost models."""

from pointsman.data.cost import CostModel
from pointsman.data.dataset import ModelInfo, RoutingDataset, normalize_prompt
from pointsman.data.errors import DataFormatError
from pointsman.data.loaders import FORMATS, detect_format, load_dataset
from pointsman.data.splits import assert_no_leak, deduplicate, group_kfold, llmrouter_test_split

__all__ = [
    "FORMATS",
    "CostModel",
    "DataFormatError",
    "ModelInfo",
    "RoutingDataset",
    "assert_no_leak",
    "deduplicate",
    "detect_format",
    "group_kfold",
    "llmrouter_test_split",
    "load_dataset",
    "normalize_prompt",
]
