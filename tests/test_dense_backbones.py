"""Dense backbones: pyramid shapes, strides and normalisation; seeded init; checkpoints and weights files."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from helpers import textured_image

from vloc.dense import DENSE_BACKBONES
from vloc.dense import gnnet as gnnet_module
from vloc.dense.vgg16 import vgg16_relu5_2
from vloc.errors import ConfigError, FormatError, InputError
from vloc.models.checkpoint import save_checkpoint
from vloc.models.gnnet import GNNet, GNNetConf

HEIGHT, WIDTH = 96, 128
RANDOM = {"dsift": {}, "gnnet": {"checkpoint": "random"}, "s2dhm-vgg16": {"weights": "random"}}
STRIDES = {"dsift": (16, 8, 4, 2, 1), "gnnet": (32, 16, 8, 4, 2, 1), "s2dhm-vgg16": (8, 4)}
DIMS = {"dsift": 40, "gnnet": 32, "s2dhm-vgg16": 2048}


def backbone(name: str, **overrides):
    cls = DENSE_BACKBONES.get(name)
    return cls(dataclasses.replace(cls.default_conf, **{**RANDOM[name], **overrides}))


def image(seed: int = 0, rgb: bool = False) -> np.ndarray:
    grey = textured_image(seed, WIDTH, HEIGHT)
    return np.stack([grey, np.roll(grey, 5, 1), 255 - grey], -1) if rgb else grey


def features(levels) -> list[torch.Tensor]:
    return [level.features for level in levels]


def assert_same(a, b) -> None:
    assert len(a) == len(b) and all(torch.equal(x, y) for x, y in zip(a, b))


@pytest.mark.parametrize("name", sorted(RANDOM))
@pytest.mark.parametrize("rgb", [False, True])
def test_levels_coarse_to_fine_normalised(name, rgb):
    levels = backbone(name)(image(rgb=rgb))
    assert [tuple(level.stride.tolist()) for level in levels] == [(s, s) for s in STRIDES[name]]
    for level, stride in zip(levels, STRIDES[name]):
        assert level.features.shape == (DIMS[name], HEIGHT // stride, WIDTH // stride)
        assert level.features.dtype == torch.float32
        norms = level.features.norm(dim=0)
        assert float((norms - 1).abs().max()) < 1e-4


@pytest.mark.parametrize("name", ["gnnet", "s2dhm-vgg16"])
def test_random_init_is_seeded(name):
    state = torch.random.get_rng_state()
    first = features(backbone(name)(image()))
    assert torch.equal(torch.random.get_rng_state(), state)  # the global stream is left untouched
    assert_same(first, features(backbone(name)(image())))
    other = features(backbone(name, seed=1)(image()))
    assert float((first[-1] - other[-1]).abs().max()) > 0.1


def test_gnnet_pooled_levels_extend_the_network_pyramid():
    full, plain = backbone("gnnet")(image()), backbone("gnnet", pooled_levels=0)(image())
    assert [float(level.stride[0]) for level in plain] == [8, 4, 2, 1]
    assert_same(features(full)[2:], features(plain))
    # Gaussian pooling: each pooled cell is close to the mean of the 2 x 2 cells below it, smoother than they are.
    below, pooled = features(full)[1], features(full)[0]
    mean = torch.nn.functional.normalize(torch.nn.functional.avg_pool2d(below[None], 2)[0], dim=0)
    assert float((pooled * mean).sum(0).mean()) > 0.9

    def roughness(f):
        return float((f[:, :, 1:] - f[:, :, :-1]).norm(dim=0).mean())

    assert roughness(pooled) < roughness(below)


def test_gnnet_checkpoint_round_trip(tmp_path):
    random = backbone("gnnet")
    path = tmp_path / "ckpt" / "gnnet.pt"
    save_checkpoint(path, random.net, {"epoch": 3})
    assert sorted(p.name for p in path.parent.iterdir()) == ["gnnet.pt"]  # no temporary file left
    stored = torch.load(path, weights_only=True)
    assert stored["architecture"] == "gnnet" and stored["extra"] == {"epoch": 3}
    assert stored["conf"] == dataclasses.asdict(GNNetConf())
    loaded = backbone("gnnet", checkpoint=str(path))
    assert not loaded.net.training
    assert_same(features(random(image())), features(loaded(image())))


def test_gnnet_checkpoint_conf_is_used(tmp_path):
    conf = GNNetConf(in_channels=3, output_dim=8, channels=(8, 16, 24), finest_stride=2)
    save_checkpoint(tmp_path / "small.pt", GNNet(conf))
    levels = backbone("gnnet", checkpoint=str(tmp_path / "small.pt"), pooled_levels=0)(image(rgb=True))
    assert [level.features.shape for level in levels] == [(8, HEIGHT // 4, WIDTH // 4), (8, HEIGHT // 2, WIDTH // 2)]


def test_gnnet_rejects_other_checkpoints(tmp_path):
    torch.save({"architecture": "superpoint", "conf": {}, "state_dict": {}}, tmp_path / "sp.pt")
    with pytest.raises(
        FormatError, match=r"sp\.pt is not a GN-Net checkpoint of this architecture: architecture is 'superpoint'"
    ):
        backbone("gnnet", checkpoint=str(tmp_path / "sp.pt"))
    wide = GNNet(GNNetConf(output_dim=16))
    wide.conf = GNNetConf()  # a conf its weights do not fit
    save_checkpoint(tmp_path / "wide.pt", wide)
    with pytest.raises(
        FormatError, match=r"wide\.pt is not a GN-Net checkpoint of this architecture: wrong shape of heads"
    ):
        backbone("gnnet", checkpoint=str(tmp_path / "wide.pt"))
    torch.save({"architecture": "gnnet", "conf": {"finest_stride": 4}, "state_dict": {}}, tmp_path / "stride4.pt")
    with pytest.raises(
        FormatError, match=r"stride4\.pt is not .* bad conf \(GN-Net finest_stride must be 1 or 2, got 4\)"
    ):
        backbone("gnnet", checkpoint=str(tmp_path / "stride4.pt"))
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(
        FormatError, match=r"junk\.pt is not a GN-Net checkpoint of this architecture: unreadable"
    ) as error:
        backbone("gnnet", checkpoint=str(tmp_path / "junk.pt"))
    assert "\n" not in str(error.value)


def test_gnnet_missing_checkpoints(tmp_path, monkeypatch):
    with pytest.raises(InputError, match=r"GN-Net checkpoint not found: .*nowhere\.pt$"):
        backbone("gnnet", checkpoint=str(tmp_path / "nowhere.pt"))
    monkeypatch.setattr(gnnet_module, "SHIPPED_CHECKPOINT", tmp_path / "gnnet.pt")
    message = (
        r"^the shipped GN-Net checkpoint is missing \(.*gnnet\.pt; pipelines/train_gnnet\.sh makes it\); pass --set"
    )
    with pytest.raises(ConfigError, match=message):
        backbone("gnnet", checkpoint="shipped")


def vgg_state() -> dict[str, torch.Tensor]:
    """The conv weights of the seeded random backbone, keyed like torchvision's `vgg16().state_dict()`."""
    return {f"features.{k}": v for k, v in backbone("s2dhm-vgg16").features.state_dict().items()}


def test_vgg16_loads_torchvision_and_s2dhm_files(tmp_path):
    expected = features(backbone("s2dhm-vgg16")(image(rgb=True)))
    state = vgg_state()
    torch.save({**state, "classifier.0.weight": torch.zeros(10, 20)}, tmp_path / "vgg16.pth")
    s2dhm = {"state_dict": {"module.encoder." + k.removeprefix("features."): v for k, v in state.items()}, "epoch": 7}
    torch.save(s2dhm, tmp_path / "s2dhm.pth.tar")
    for file in ("vgg16.pth", "s2dhm.pth.tar"):
        assert_same(expected, features(backbone("s2dhm-vgg16", weights=str(tmp_path / file))(image(rgb=True))))


def test_vgg16_weights_errors(tmp_path):
    with pytest.raises(ConfigError, match=r"needs VGG-16 weights: pass --set model\.weights=/path/to/vgg16\.pth"):
        backbone("s2dhm-vgg16", weights="")
    with pytest.raises(InputError, match=r"VGG-16 weights not found: .*absent\.pth; pass --set model\.weights="):
        backbone("s2dhm-vgg16", weights=str(tmp_path / "absent.pth"))
    torch.save(GNNet(GNNetConf()).state_dict(), tmp_path / "other.pth")
    with pytest.raises(FormatError, match=r"other\.pth: no VGG-16 convolution weights fit"):
        backbone("s2dhm-vgg16", weights=str(tmp_path / "other.pth"))
    partial = {k: v for k, v in vgg_state().items() if not k.startswith("features.26.")}
    torch.save(partial, tmp_path / "partial.pth")
    with pytest.raises(FormatError, match=r"partial\.pth: VGG-16 weights incomplete: 26\.weight, 26\.bias missing"):
        backbone("s2dhm-vgg16", weights=str(tmp_path / "partial.pth"))


def test_vgg16_layer_indices_match_torchvision():
    convs = [i for i, layer in enumerate(vgg16_relu5_2()) if isinstance(layer, torch.nn.Conv2d)]
    assert convs == [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26]


def test_dsift_is_translation_equivariant():
    wide = textured_image(1, WIDTH + 8, HEIGHT)
    dsift = backbone("dsift")
    left, right = dsift(wide[:, :WIDTH])[-2].features, dsift(wide[:, 8:])[-2].features
    assert left.shape[-1] == WIDTH // 2  # stride 2: 8 pixels are 4 cells
    margin = 10  # cells where the replicate padding of the blur, pooling and ring reach
    difference = (right[:, margin:-margin, margin : -margin - 4] - left[:, margin:-margin, margin + 4 : -margin]).abs()
    assert float(difference.max()) < 1e-5
    unshifted = (right[:, margin:-margin, margin : -margin - 4] - left[:, margin:-margin, margin : -margin - 4]).abs()
    assert float(unshifted.max()) > 0.1
