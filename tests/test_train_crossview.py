"""vloc train crossview: the losses are zero or minimal where they should be, a tiny network learns the flow of one
batch, and a run writes its checkpoints, resumes, and refuses a dataset without training views."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest
import torch
from helpers import TINY_CROSSVIEW_SCENES
from helpers import TINY_DENSEFLOW as TINY

from vloc.errors import InputError
from vloc.io.crossview import random_prior, read_crossview
from vloc.models.checkpoint import load_checkpoint
from vloc.models.crossview import DenseFlowNetwork, FlowEstimate
from vloc.synth.crossview import main as synth_crossview
from vloc.train import crossview as trainer
from vloc.train.crossview import (
    Batch,
    CrossviewSamples,
    TrainCrossviewConf,
    correlation_loss,
    main,
    make_batch,
    sequence_loss,
    truth_flow,
)

SCENES = replace(TINY_CROSSVIEW_SCENES, num_scenes=3, views_per_scene=3)
CONF = TrainCrossviewConf(
    model=TINY, steps=6, batch_size=2, validation_interval=3, validation_views=4, prior_offset=5.0, prior_yaw=10.0
)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("crossview") / "data"
    synth_crossview(SCENES, root)
    return read_crossview(root)


def one_batch(dataset, conf=CONF) -> Batch:
    samples = CrossviewSamples(dataset, dataset.select("train"), conf.model)
    rng = np.random.default_rng(0)
    indices = [0, 3, 6, 9]
    priors = [random_prior(rng, samples.views[i].pose, conf.prior_offset, conf.prior_yaw) for i in indices]
    return make_batch(samples, indices, priors)


def test_the_sequence_loss_has_no_flow_term_at_the_true_flow(dataset):
    batch = one_batch(dataset)
    truth = truth_flow(batch, TINY.tile_size)
    valid = torch.ones(len(truth), 1, TINY.tile_size, TINY.tile_size)
    confidence = torch.full_like(valid, 0.5)
    exact = sequence_loss([FlowEstimate(truth, confidence, valid)], truth, replace(CONF, confidence_weight=0))
    assert float(exact) == 0
    off = sequence_loss([FlowEstimate(truth + 1.0, confidence, valid)], truth, replace(CONF, confidence_weight=0))
    assert float(off) == pytest.approx(2.0)  # L1 over both components


def test_the_correlation_loss_is_small_when_each_cell_peaks_at_its_true_aerial_cell(dataset):
    batch = one_batch(dataset)
    cells = TINY.cells
    uniform = correlation_loss(torch.zeros(4, cells, cells, cells, cells), batch, TINY)
    assert float(uniform) == pytest.approx(math.log(cells * cells), rel=1e-5)
    centres = (torch.arange(cells) + 0.5) * TINY.stride  # where each cell centre goes under the true motion
    v, u = torch.meshgrid(centres, centres, indexing="ij")
    cos, sin = torch.cos(batch.truth_angle)[:, None, None], torch.sin(batch.truth_angle)[:, None, None]
    x = cos * u - sin * v + batch.truth_translation[:, 0, None, None]
    y = sin * u + cos * v + batch.truth_translation[:, 1, None, None]
    column = torch.floor(x / TINY.stride).long().clamp(0, cells - 1)
    row = torch.floor(y / TINY.stride).long().clamp(0, cells - 1)
    peaked = torch.zeros(4, cells * cells, cells * cells)
    peaked.scatter_(2, (row * cells + column).reshape(4, -1, 1), 50.0)
    assert float(correlation_loss(peaked.view(4, cells, cells, cells, cells), batch, TINY)) < 1e-6


def test_a_tiny_network_learns_the_flow_of_one_batch(dataset):
    torch.manual_seed(0)
    batch = one_batch(dataset)
    truth = truth_flow(batch, TINY.tile_size)
    net = DenseFlowNetwork(TINY)
    optimizer = torch.optim.AdamW(net.parameters(), lr=2e-3)

    def error() -> float:
        with torch.no_grad():
            last = net(batch.ground, batch.tile, batch.sampling, batch.valid).estimates[-1]
        return float(((last.flow - truth).norm(dim=1, keepdim=True) * last.valid).sum() / last.valid.sum())

    before = error()
    for _ in range(40):
        output = net(batch.ground, batch.tile, batch.sampling, batch.valid)
        loss = sequence_loss(output.estimates, truth, CONF) + 10 * correlation_loss(output.correlation, batch, TINY)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert before > 4 and error() < 0.5 * before


def test_a_run_writes_checkpoints_validates_and_resumes_where_it_stopped(dataset, tmp_path, monkeypatch):
    main(dataset, CONF, tmp_path / "whole")
    history = json.loads((tmp_path / "whole" / "history.json").read_text())["history"]
    assert [h["step"] for h in history] == [3, 6]
    assert history[0]["validation_prior_distance_m"] > 0 and history[0]["validation_distance_m"] >= 0
    whole, extra = load_checkpoint(tmp_path / "whole" / "denseflow.pt", DenseFlowNetwork)
    assert whole.conf == TINY and len(json.loads(extra["history"])) == 2

    step = trainer.train_step

    def stopped_at_step_5(net, samples, optimizer, conf, index):
        if index == 4:
            raise KeyboardInterrupt
        return step(net, samples, optimizer, conf, index)

    monkeypatch.setattr(trainer, "train_step", stopped_at_step_5)
    with pytest.raises(KeyboardInterrupt):
        main(dataset, CONF, tmp_path / "stopped")
    assert not (tmp_path / "stopped" / "denseflow.pt").exists()
    monkeypatch.setattr(trainer, "train_step", step)
    main(dataset, CONF, tmp_path / "stopped", resume=tmp_path / "stopped" / "last.pt")
    resumed, _ = load_checkpoint(tmp_path / "stopped" / "denseflow.pt", DenseFlowNetwork)
    for name, value in whole.state_dict().items():
        assert torch.allclose(value, resumed.state_dict()[name], atol=1e-6), name


def test_no_training_views_is_one_line(dataset, tmp_path):
    test_only = replace(dataset, views=dataset.select("test"))
    with pytest.raises(InputError, match="no views of split 'train'"):
        main(test_only, CONF, tmp_path / "run")


def test_resuming_with_another_schedule_is_refused(dataset, tmp_path):
    main(dataset, CONF, tmp_path / "run")
    with pytest.raises(InputError, match="steps 6 -> 9"):
        main(dataset, replace(CONF, steps=9), tmp_path / "run", resume=tmp_path / "run" / "last.pt")
