"""CTC decoding as PaddleX's CTCLabelDecode: argmax per step, merge repeats, drop blanks (index 0).

The character list is ["blank"] + PostProcess.character_dict of inference.yml + [" "]; the score is the mean
of the kept steps' max probabilities (0.0 for an empty text).
"""
from __future__ import annotations

from typing import List, Sequence, Tuple

import numpy as np

from ...errors import ModelDirError


class CTCDecoder:
    def __init__(self, characters: Sequence[str]):
        if not characters:
            raise ModelDirError("PostProcess.character_dict of inference.yml is empty")
        self.characters = ["blank", *[str(c) for c in characters], " "]
        self._lookup = np.array(self.characters, dtype=object)

    def __call__(self, probs: np.ndarray) -> List[Tuple[str, float]]:
        """probs: N x T x C softmax output -> [(text, score)] per line."""
        if probs.ndim != 3 or probs.shape[2] != len(self.characters):
            raise ModelDirError(f"model output shape {probs.shape} does not fit a dictionary of "
                                f"{len(self.characters)} classes (blank + dict + space)")
        return self._decode(probs.argmax(axis=2), probs.max(axis=2))

    def decode_top1(self, top1: np.ndarray) -> List[Tuple[str, float]]:
        """top1: N x T x 2, per step the best class's probability and its index (a backend's `top1` output)."""
        if top1.ndim != 3 or top1.shape[2] != 2:
            raise ModelDirError(f"a top-1 output must be N x T x 2, got {top1.shape}")
        indices = top1[:, :, 1].astype(np.int64)
        if indices.size and indices.max() >= len(self.characters):
            raise ModelDirError(f"the model chose class {indices.max()}, beyond a dictionary of "
                                f"{len(self.characters)} classes (blank + dict + space)")
        return self._decode(indices, top1[:, :, 0])

    def _decode(self, indices: np.ndarray, best: np.ndarray) -> List[Tuple[str, float]]:
        keep = indices != 0
        keep[:, 1:] &= indices[:, 1:] != indices[:, :-1]
        results = []
        for row, mask in enumerate(keep):
            kept = indices[row][mask]
            text = "".join(self._lookup[kept])
            score = float(np.mean(best[row][mask])) if kept.size else 0.0
            results.append((text, score))
        return results
