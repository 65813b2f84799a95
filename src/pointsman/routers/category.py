"""Two-step category routing (Composition of Experts, Jain et al. 2024, arXiv:2411.01102).

Step 1, the gate: p(category | query) from embedding + lexical features (categories are the dataset's tasks,
or embedding clusters when it has none). Step 2: each category's per-model mean score, shrunk toward the
model's overall mean by `shrinkage` pseudo-prompts so that small categories borrow from the whole data.
The prediction mixes the categories by their probability.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pointsman.routers.fitting import array, model_priors, shrunk_means
from pointsman.routers.gating import GatedRouter
from pointsman.routers.registry import register


@register
class CategoryRouter(GatedRouter):
    name = "category"

    def __init__(
        self,
        shrinkage: float = 10.0,
        min_group: int = 20,
        gate_reg: float = 0.1,
        lexical_weight: float = 0.3,
        ngram_weight: float = 2.0,
        seed: int = 0,
    ) -> None:
        self.shrinkage = shrinkage
        self.min_group = min_group
        self.gate_reg = gate_reg
        self.lexical_weight = lexical_weight
        self.ngram_weight = ngram_weight
        self.seed = seed

    def _fit_groups(
        self, x: np.ndarray, quality: np.ndarray, labels: np.ndarray, warm: GatedRouter | None = None
    ) -> None:
        prior = model_priors(quality)
        self.means_ = np.array(
            [shrunk_means(quality[labels == g], prior, self.shrinkage) for g in range(len(self.gate_.names))]
        )

    def _predict_groups(self, x: np.ndarray, proba: np.ndarray) -> np.ndarray:
        return proba @ self.means_

    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta, arrays = self._gate_state()
        return meta, {**arrays, "means": self.means_}

    def _set_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self._set_gate_state(meta, arrays)
        self.means_ = array(arrays, "means", (len(self.gate_.names), len(self.models_)))
