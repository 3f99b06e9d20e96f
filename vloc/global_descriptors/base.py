"""The global-descriptor plug-in interface, and where learned weights are looked for."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from ..errors import FormatError, InputError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class GlobalDescriptor:
    """A global descriptor: `default_conf` (a dataclass), `_init` and `_forward` on one uint8 image.

    `_forward` takes an image (H, W) if `grayscale`, else RGB (H, W, 3), and returns an L2-normalised (D,) vector.
    """

    default_conf: ClassVar[Any]
    grayscale: ClassVar[bool] = False

    def __init__(self, conf: Any):
        self.conf = conf
        self._init(conf)

    def _init(self, conf: Any) -> None:
        """Load models or vocabularies once."""

    def _forward(self, image: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __call__(self, image: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return np.asarray(self._forward(image), np.float32)


def weights_path(weights: str, checkpoint: str, what: str) -> Path:
    """The user's weights file, else `<torch hub dir>/checkpoints/<checkpoint>`; fail naming the file expected."""
    path = Path(weights) if weights else Path(torch.hub.get_dir()) / "checkpoints" / checkpoint
    if not path.is_file():
        where = "file given by weights=" if weights else "torch hub cache ($TORCH_HOME/hub)"
        raise InputError(f"{what} weights not found: expected {path} ({where}); set weights=FILE to use another file")
    return path


def load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Tensors of a .pth/.pt checkpoint (unwrapping `state_dict`/`model` and a `module.` prefix); FormatError if unreadable."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types (pickle, zip, runtime) for a bad file
        raise FormatError(f"{path}: not a readable PyTorch checkpoint ({type(error).__name__})") from None
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise FormatError(f"{path}: checkpoint holds no state dict")
    return {k.removeprefix("module."): v for k, v in state.items() if isinstance(v, torch.Tensor)}


def require_keys(state: dict[str, torch.Tensor], keys: list[str], path: Path, what: str) -> None:
    missing = [k for k in keys if k not in state]
    if missing:
        shown = ", ".join(missing[:4]) + (f" and {len(missing) - 4} more" if len(missing) > 4 else "")
        raise FormatError(f"{path}: not a {what} checkpoint: missing {shown}")


def load_into(model: torch.nn.Module, state: dict[str, torch.Tensor], path: Path, what: str) -> None:
    """Load every weight of `model` strictly (no silently random layer); FormatError naming the file otherwise."""
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        detail = " ".join(str(error).split("\n")[1:2]).strip()[:200]
        raise FormatError(f"{path}: {what} checkpoint does not fit the model ({detail})") from None


def to_tensor(image: np.ndarray, mean: tuple[float, ...] = IMAGENET_MEAN, std: tuple[float, ...] = IMAGENET_STD) -> torch.Tensor:
    """RGB uint8 (H, W, 3) -> normalised float (1, 3, H, W)."""
    tensor = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float() / 255
    return ((tensor - torch.tensor(mean)[:, None, None]) / torch.tensor(std)[:, None, None])[None]
