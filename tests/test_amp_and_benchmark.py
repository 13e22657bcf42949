"""`--amp bf16` (autocast around the networks, SepConv and losses in float32) and the benchmark's JSON."""
import json
import random

import pytest
import torch

import sepconv
from conftest import SMALL, random_batch
from models import TwoStreamNetworks
from utils.training.optimization import build_optimizers, update_step
from utils.training.tasks import run_task

VALUES = dict(c_kl=5.0, m_kl=5.0, c_img_dis=10.0, xp_vs_xtilde=1.0, img_m_kl=5.0,
              pred_scale_feat=100.0, video_scale_feat=100.0, epsilon=0.5)


@pytest.mark.parametrize("task", ["content", "frame", "video"])
def test_bf16_step_on_cpu_keeps_sepconv_and_losses_in_float32(task, monkeypatch):
    torch.manual_seed(0)
    nets = TwoStreamNetworks(3, **SMALL)
    groups = nets.parameter_groups()
    optimizers = build_optimizers(groups)
    before = {k: v.clone() for k, v in nets.state_dict().items()}
    seen = []
    real = sepconv.separable_conv_cpu

    def spy(*args):
        out = real(*args)
        seen.append(tuple(a.dtype for a in args) + (out.dtype,))
        return out
    monkeypatch.setattr(sepconv, "separable_conv_cpu", spy)
    conv_dtypes = []
    hook = torch.nn.modules.module.register_module_forward_hook(
        lambda m, i, o: conv_dtypes.append(o.dtype) if isinstance(m, torch.nn.Conv2d) else None)
    try:
        losses, _ = run_task(task, nets, random_batch(2, 3), VALUES, random.Random(0), amp="bf16")
    finally:
        hook.remove()
    assert torch.bfloat16 in conv_dtypes, "autocast did not reach the networks"
    if task != "content":
        assert seen and all(d == (torch.float32,) * 4 for d in seen), seen
    for value in list(losses.groups.values()) + list(losses.scalars.values()):
        assert value.dtype == torch.float32 and torch.isfinite(value)
    assert update_step(losses, groups, optimizers)
    assert all(v.dtype == before[k].dtype for k, v in nets.state_dict().items())   # weights stay float32
    assert any(not torch.equal(v, before[k]) for k, v in nets.state_dict().items())


def test_unknown_amp_mode_is_refused():
    nets = TwoStreamNetworks(3, **SMALL)
    with pytest.raises(ValueError, match="unknown amp mode 'fp8'"):
        run_task("content", nets, random_batch(2, 3), VALUES, random.Random(0), amp="fp8")


def test_benchmark_prints_one_json_line(capsys):
    from utils.tools import benchmark
    benchmark.main(["--reduced", "--batch_size", "2", "--repeats", "1", "--threads", "1"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    result = json.loads(lines[0])
    for key in ("config", "threads", "device", "content_s", "frame_s", "video_s", "video_eps0_s", "generate_s",
                "video_gflop", "matmul_gflops", "content_cost", "frame_cost", "video_cost"):
        assert key in result, key
    assert result["threads"] == 1 and result["video_gflop"] > 0 and result["matmul_gflops"] > 0
    assert result["video_cost"] == pytest.approx(result["video_s"] * result["matmul_gflops"] / 1194.9, rel=1e-3)


def test_benchmark_rejects_bad_options(capsys):
    from utils.tools import benchmark
    with pytest.raises(SystemExit) as exit_info:
        benchmark.main(["--batch_size", "0"])
    assert exit_info.value.code == 2
    assert "--batch_size" in capsys.readouterr().err
