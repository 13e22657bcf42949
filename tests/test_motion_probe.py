"""utils.tools.motion_probe: moving maps, object centres, class spread of kernels, the report, errors."""
import json
import math

import pytest
import torch

from conftest import synthetic_checkpoint
from datasets import synthetic
from utils.tools import motion_probe

SMALL = ["--cont_dim", "16", "--motion_dim", "8", "--gf_dim", "4", "--image_ndf", "4", "--video_ndf", "4",
         "--batch_size", "2", "--joint", "--threads", "1"]


def test_shift_moves_content_by_dx_dy_and_replicates_edges():
    maps = torch.zeros(1, 1, 8, 8)
    maps[0, 0, 4, 3] = 1.0                                     # y = 4, x = 3
    moved = motion_probe.shift(maps, 2, 1)
    assert moved[0, 0, 5, 5] == 1.0 and moved.sum() == 1.0
    ramp = torch.arange(8.0).view(1, 1, 1, 8).expand(1, 1, 8, 8)
    right = motion_probe.shift(ramp, 2, 0)                     # content moves right: the left edge is repeated
    assert right[0, 0, 0].tolist() == [0, 0, 0, 1, 2, 3, 4, 5]
    assert torch.equal(motion_probe.shift(ramp, 0, 0), ramp)
    steps = torch.tensor([[1, 0], [0, -1]])
    both = motion_probe.shift_each(torch.cat([maps, maps]), steps)
    assert both[0, 0, 4, 4] == 1.0 and both[1, 0, 3, 3] == 1.0


def test_object_centre_of_a_square_on_a_vertical_gradient():
    frames = torch.linspace(-1, 1, 16).view(1, 1, 16, 1).expand(2, 3, 16, 16).clone()
    frames[0, :, 4:7, 9:12] = 1.0                              # rows 4..6, columns 9..11
    centres = motion_probe.object_centres(frames)
    gradient = torch.linspace(-1, 1, 16)
    weights = {y: float(1 - gradient[y]) for y in (4, 5, 6)}            # each row's difference from its median
    expected_y = sum(y * w for y, w in weights.items()) / sum(weights.values())
    assert centres[0].tolist() == pytest.approx([10.0, expected_y], rel=1e-5)
    assert math.isnan(centres[1, 0]) and math.isnan(centres[1, 1])   # background only


def test_class_spread_is_zero_when_the_label_changes_nothing():
    torch.manual_seed(0)
    labels = torch.tensor([0, 1, 2, 3, 0, 1, 2, 3])
    same = torch.randn(1, 6, 4, 4).expand(8, 6, 4, 4) + 0.1 * torch.randn(8, 6, 1, 1)
    between, ratio, means = motion_probe.class_spread(same * 0 + same[:1], labels, 4)
    assert between == 0.0 and ratio == 0.0
    per_class = torch.randn(4, 6)
    maps = per_class[labels].view(8, 6, 1, 1).expand(8, 6, 4, 4)
    between, ratio, means = motion_probe.class_spread(maps, labels, 4)
    assert torch.allclose(means, per_class)
    assert between == pytest.approx(float(per_class.std(0).mean()))
    assert ratio == pytest.approx(between / float(per_class[labels].std(0).mean()))
    _, _, means = motion_probe.class_spread(maps[:3], labels[:3], 4)              # class 3 absent
    assert torch.isnan(means[3]).all() and not torch.isnan(means[:3]).any()


@pytest.fixture
def checkpoint(tmp_path):
    return synthetic_checkpoint(tmp_path, SMALL, 7)


def test_probe_reports_the_measurements_and_a_fit(checkpoint, tmp_path, capsys):
    out = tmp_path / "probe.json"
    assert motion_probe.main([checkpoint, "--batch", "8", "--fit_steps", "2", "--fit_source", "frame",
                              "--out", str(out), "--threads", "1"]) == 0
    printed = capsys.readouterr().out
    assert "(iteration 7), 8 clips, 2 px per frame" in printed
    report = json.loads(out.read_text())
    gain = report["shift_gain"]
    # the real frame moved by the data's speed its class's way is the next frame (up to the edges);
    # moved the other way it is further off than unmoved
    assert gain["frame_class"] < 0.05 * gain["frame_none"] < gain["frame_opposite"]
    assert set(report["feature_shift"]) == {"8", "16", "32"}
    assert set(report["kernels"]["spread"]) == {"8", "16", "32", "64"}
    assert set(report["kernels"]["object_move_along_class"]) == set(synthetic.CLASSES)
    assert len(report["kernels"]["mean_kernels"]["right"]) == 2 * 5                  # V and H, K = 5
    fit = report["fit"]
    assert fit["source"] == "frame" and [h["step"] for h in fit["history"]] == [1, 2]
    assert "object_move_along_class" not in fit["kernels"]


def test_probe_errors_are_one_line(checkpoint, tmp_path, capsys):
    with pytest.raises(SystemExit) as missing:
        motion_probe.main([str(tmp_path / "none.pth")])
    assert missing.value.code == 2
    with pytest.raises(SystemExit) as small:
        motion_probe.main([checkpoint, "--batch", "1"])
    assert small.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "none.pth" in err[0] and "--batch" in err[1]
