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


def test_first_move_draw_sets_only_the_frame_tasks_t():
    import random
    always, never = learning_probe.FirstMoveDraw(1.0, random.Random(0)), learning_probe.FirstMoveDraw(0.0, random.Random(0))
    assert {always.randint(1, 8) for _ in range(200)} == {1}
    assert {never.randint(1, 8) for _ in range(400)} == set(range(2, 9))
    half = learning_probe.FirstMoveDraw(0.5, random.Random(1))
    share = np.mean([half.randint(1, 8) == 1 for _ in range(4000)])
    assert abs(share - 0.5) < 0.04                                  # 4000 draws: standard deviation 0.008
    assert {always.randint(0, 8) for _ in range(400)} == set(range(9))      # the content task's frame index
    assert 0.0 <= always.random() < 1.0


def test_the_frame_task_predicts_the_frame_its_draw_names():
    from utils.training.tasks import frame_task

    class Recording:
        def __init__(self):
            self.calls = []

        def randint(self, low, high):
            self.calls.append((low, high))
            return 1

        def __getattr__(self, name):
            return getattr(np.random, name)
    torch.manual_seed(0)
    nets = TwoStreamNetworks(4, cont_dim=16, motion_dim=8, gf_dim=4, image_ndf=4, video_ndf=4, joint=True)
    images = torch.rand(2, 3, 10, 64, 64) * 2 - 1
    labels = torch.tensor([0, 2])
    batch = Batch(images, labels, one_hot(labels, 4))
    rng = Recording()
    _, visuals = frame_task(nets, batch, {"img_m_kl": 1.0, "pred_scale_feat": 1.0}, rng)
    assert rng.calls == [(1, 8)]                     # FirstMoveDraw recognises the frame task's t by these bounds
    assert torch.equal(visuals["real"], images[:, :, 1])


def test_first_move_share_out_of_range_ends_in_one_line(tmp_path, capsys):
    synthetic.generate(str(tmp_path / "data"), seed=0, videos_per_class=5, n_frames=12, design="large")
    assert learning_probe.main(["--dataroot", str(tmp_path / "data"), "--out", str(tmp_path / "r.json"),
                                "--first_move_share", "1.5"]) == 2
    assert "--first_move_share must be in [0, 1], got 1.5" in capsys.readouterr().err


def test_the_probe_hands_its_draw_to_every_step(tmp_path, monkeypatch):
    synthetic.generate(str(tmp_path / "data"), seed=0, videos_per_class=5, n_frames=12, design="large")
    seen = []
    monkeypatch.setattr(learning_probe, "train_step", lambda task, *args: seen.append(args[-1]) or (None, None, None))
    for share in (None, 0.75):
        extra = [] if share is None else ["--first_move_share", str(share)]
        assert learning_probe.main(["--dataroot", str(tmp_path / "data"), "--out", str(tmp_path / "r.json"), *TINY,
                                    "--phases", "mix:2:0.5:0.5", *extra]) == 0
    import random
    assert seen[:2] == [random, random]
    assert all(isinstance(d, learning_probe.FirstMoveDraw) and d.share == 0.75 for d in seen[2:]) and len(seen) == 4
