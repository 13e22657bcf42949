"""utils.tools.ramp_probe: ε ramp, the per-step record (losses, gradient norms, frames, kernel gains), errors."""
import json

import pytest
import torch

from conftest import synthetic_checkpoint
from utils.tools import ramp_probe

SMALL = ["--cont_dim", "16", "--motion_dim", "8", "--gf_dim", "4", "--image_ndf", "4", "--video_ndf", "4",
         "--batch_size", "2", "--joint", "--threads", "1", "--vid_m_kl_start", "3", "--vid_m_kl_end", "9",
         "--video_iter_start", "10", "--video_iter_end", "20"]


def test_epsilon_falls_linearly_then_stays_at_zero():
    assert [ramp_probe.ramp_epsilon(s, 4) for s in range(6)] == [1.0, 0.75, 0.5, 0.25, 0.0, 0.0]
    assert [ramp_probe.ramp_epsilon(s, 0) for s in range(2)] == [0.0, 0.0]


def test_kernel_gain_is_the_response_to_a_constant_input():
    from sepconv import separable_conv
    torch.manual_seed(0)
    vertical, horizontal = torch.randn(2, 5, 8, 8), torch.randn(2, 5, 8, 8)
    mask = torch.rand(2, 1, 8, 8)
    stats = ramp_probe.kernel_statistics({8: (vertical, horizontal, mask)})["8"]
    response = separable_conv(torch.ones(2, 1, 12, 12), vertical, horizontal).abs()   # SepConv of ones
    assert stats["gain_max"] == pytest.approx(float(response.max()), rel=1e-5)
    assert stats["gain_mean"] == pytest.approx(float(response.mean()), rel=1e-5)
    assert stats["kernel_absmax"] == float(torch.cat([vertical, horizontal]).abs().max())
    assert stats["mask_mean"] == pytest.approx(float(mask.mean()))


def test_frame_statistics_per_frame():
    video = torch.zeros(2, 3, 4, 5, 5)
    video[1, 0, 2, 0, 0] = -7.0
    video[0, 2, 3] = 1.5
    stats = ramp_probe.frame_statistics(video)
    assert [s["absmax"] for s in stats] == [0.0, 0.0, 7.0, 1.5]
    assert [s["outside"] for s in stats] == pytest.approx([0, 0, 1 / 150, 25 / 150])


def test_a_probe_records_every_step_from_a_checkpoint(tmp_path, capsys):
    path = synthetic_checkpoint(tmp_path, SMALL, 15)
    out = tmp_path / "ramp.jsonl"
    assert ramp_probe.main([path, "--ramp", "2", "--steps", "3", "--out", str(out), "--threads", "1"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert "(iteration 15): 3 video steps, ε 1 -> 0 over 2, m_kl 6, grad_clip 0" in printed[0]    # 3 -> 9 over [10, 20]
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["epsilon"] for r in records] == [1.0, 0.5, 0.0]
    for record in records:
        assert record["finite"] and "motion_encoder" in record["updated"]
        assert set(record["grad_norm"]) == set(record["updated"]) and all(g > 0 for g in record["grad_norm"].values())
        assert len(record["frames"]) == 10 and len(record["kernels"]) == 9      # 9 unroll steps of the sampled pass
        assert set(record["kernels"][0]) == {"8", "16", "32", "64"}
        assert {"mse", "kl", "scale_feat"} <= set(record["losses"])
    assert records[0]["frames"][0]["absmax"] <= 1.0                              # frame 0: the tanh reconstruction
    assert printed[1].startswith("step   0 eps 1.00 mse ")


def test_bad_checkpoint_or_arguments_end_in_one_line(tmp_path):
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    for argv, expected in (([str(bad), "--ramp", "1", "--steps", "1"], "bad.pth"),
                           ([str(bad), "--ramp", "-1", "--steps", "1"], "--ramp must be >= 0")):
        with pytest.raises(SystemExit) as stop:
            ramp_probe.main(argv + ["--out", str(tmp_path / "r.jsonl")])
        assert stop.value.code == 2
