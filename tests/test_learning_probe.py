"""utils.tools.learning_probe: phases through the training step, the after-phase measurements, the report."""
import json

import numpy as np
import pytest
import torch

from datasets import synthetic
from models import TwoStreamNetworks
from models.blocks import one_hot
from utils.core.data_stream import Batch
from utils.tools import learning_probe

TINY = ["--gf_dim", "4", "--cont_dim", "16", "--motion_dim", "8", "--ndf", "4", "--batch_size", "2"]


def test_phases_are_parsed_or_refused_in_one_line():
    assert learning_probe.parse_phases("pre:5,mix:7:0.5:0.2") == [("pre", 5, 0.0, 0.0), ("mix", 7, 0.5, 0.2)]
    for bad in ("mix:3", "pre:x", "video:3", "pre:0"):
        with pytest.raises(ValueError, match="--phases"):
            learning_probe.parse_phases(bad)


def test_a_tiny_probe_writes_one_record_and_grid_per_phase(tmp_path, capsys):
    synthetic.generate(str(tmp_path / "data"), seed=0, videos_per_class=5, n_frames=12, design="large")
    out = tmp_path / "probe.json"
    assert learning_probe.main(["--dataroot", str(tmp_path / "data"), "--out", str(out), *TINY,
                                "--phases", "pre:2,mix:3:0.3:0.5"]) == 0
    report = json.loads(out.read_text())
    assert [p["phase"] for p in report["phases"]] == ["pre2", "mix5"]
    last = report["phases"][-1]
    for key in ("unconditional_direction", "conditional_direction", "motion_reconstruction_direction"):
        assert 0.0 <= last[key] <= 1.0
    assert last["real_direction"] == 1.0                     # the measurement itself, on the real clips
    assert {"mask_8", "mask_16", "mask_32", "mask_64", "mask_64_object", "mask_64_background"} <= set(last)
    assert all(0.0 <= last[f"mask_{s}"] <= 1.0 for s in (8, 16, 32, 64))
    assert set(last["prior_centres"]) == set(synthetic.CLASSES)
    assert isinstance(last["prior_behind_middle_px"], float)      # NaN: the untrained decoder draws no object
    assert last["real_first_behind_middle_px"] > 0
    assert set(report["phases"][0]["seconds_per_task"]) == {"pretrain"}
    assert (tmp_path / "probe_pre2.png").is_file() and (tmp_path / "probe_mix5.png").is_file()


def test_bad_data_or_phases_end_in_one_line(tmp_path, capsys):
    assert learning_probe.main(["--dataroot", str(tmp_path / "none"), "--out", str(tmp_path / "r.json")]) == 2
    assert capsys.readouterr().err.startswith("python -m utils.tools.learning_probe: error: ")
    assert learning_probe.main(["--dataroot", str(tmp_path), "--out", str(tmp_path / "r.json"),
                                "--phases", "mix:3"]) == 2
    assert "neither pre:N nor mix:N:CONT:MOTION" in capsys.readouterr().err


def test_behind_middle_is_measured_against_each_class_direction():
    # right, left, up, down, each 18 px from the middle on the side it starts from
    centres = np.array([[13.5, 31.5], [49.5, 31.5], [31.5, 49.5], [31.5, 13.5]])
    labels = np.arange(4)
    assert learning_probe.behind_middle(centres, labels, synthetic.CLASSES) == 18.0
    assert learning_probe.behind_middle(centres[[1, 0, 3, 2]], labels, synthetic.CLASSES) == -18.0
    # averaged per class first: three `right` videos at the middle weigh as one class
    many = np.concatenate([centres, np.full((3, 2), 31.5)])
    assert learning_probe.behind_middle(many, np.array([0, 1, 2, 3, 0, 0, 0]), synthetic.CLASSES) == 14.625
    assert np.isnan(learning_probe.behind_middle(np.full((2, 2), np.nan), np.array([0, 1]), synthetic.CLASSES))


def test_prior_placement_leaves_the_global_generator_alone():
    nets = TwoStreamNetworks(4, cont_dim=16, motion_dim=8, gf_dim=4, image_ndf=4, video_ndf=4).eval()
    labels = torch.arange(4)
    batch = Batch(torch.rand(4, 3, 10, 64, 64) * 2 - 1, labels, one_hot(labels, 4))
    before = torch.get_rng_state()
    out = learning_probe.prior_placement(nets.generator, synthetic.CLASSES, batch, per_class=2)
    assert torch.equal(torch.get_rng_state(), before)
    assert set(out) == {"prior_centres", "prior_behind_middle_px", "real_first_behind_middle_px"}
