"""End-to-end checks of train.py, eval.py and the launchers (subprocesses; marked slow)."""
import os
import subprocess
import sys

import pytest
import torch

from conftest import REPO_ROOT

SMALL_FLAGS = ["--cont_dim", "16", "--motion_dim", "8", "--gf_dim", "4", "--image_ndf", "4", "--video_ndf", "4",
               "--batch_size", "2", "--joint", "--threads", "1"]


def run(args, env=None, cwd=None):
    full_env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), **(env or {}))
    return subprocess.run([sys.executable] + args, cwd=cwd or REPO_ROOT, env=full_env, capture_output=True,
                          text=True, timeout=600)


@pytest.fixture(scope="module")
def synthetic_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("data") / "synthetic"
    result = run(["-m", "datasets.synthetic", "--out", str(root), "--videos_per_class", "5", "--frames", "12"])
    assert result.returncode == 0, result.stderr
    return root


def dirs(tmp_path):
    return ["--log_dir", str(tmp_path / "logs"), "--checkpoint_dir", str(tmp_path / "ckpt"),
            "--output_dir", str(tmp_path / "results")]


@pytest.mark.slow
def test_smoke_run_through_every_task_then_resume_then_eval(tmp_path, synthetic_root):
    common = ["train.py", "--dataset", "synthetic", "--dataroot", str(synthetic_root), "--exp_name", "smoke",
              *SMALL_FLAGS, *dirs(tmp_path), "--pretrain_iters", "3", "--print_freq", "4", "--val_freq", "6",
              "--save_freq", "6", "--val_batches", "1", "--cont_ratio_start", "0.34", "--cont_ratio_end", "0.34",
              "--motion_ratio_start", "0.5", "--motion_ratio_end", "0.5", "--seed", "4"]
    first = run(common + ["--total_iters", "12"])
    assert first.returncode == 0, first.stderr[-3000:]
    ckpt_dir = tmp_path / "ckpt" / "smoke"
    assert sorted(os.listdir(ckpt_dir)) == ["12.pth", "6.pth", "latest.pth", "options.json"]
    state = torch.load(ckpt_dir / "latest.pth", weights_only=True)
    assert state["iteration"] == 12
    assert all(state["counters"].get(task, 0) >= 1 for task in ("pretrain", "content", "frame", "video")), \
        state["counters"]
    assert state["counters"]["pretrain"] == 2  # iterations 1 and 2 (< P = 3)
    log = (tmp_path / "logs" / "smoke" / "log.txt").read_text()
    assert "val 6 video" in log and "it 12/12" in log
    assert any(name.startswith("events.out.tfevents") for name in os.listdir(tmp_path / "logs" / "smoke"))

    resumed = run(common + ["--total_iters", "14", "--resume"])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming smoke at iteration 12" in resumed.stdout + resumed.stderr
    assert torch.load(ckpt_dir / "latest.pth", weights_only=True)["iteration"] == 14

    evaluated = run(["eval.py", "--dataset", "synthetic", "--dataroot", str(synthetic_root), "--exp_name", "smoke",
                     *dirs(tmp_path), "--num_per_class", "2", "--eval_batch", "2", "--val_num", "1",
                     "--get_seq", "--get_mask"])
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    out = tmp_path / "results" / "smoke" / "iter_14"
    for protocol in ("unconditional", "conditional"):
        assert (out / protocol / "samples.gif").is_file() and (out / protocol / "samples.png").is_file()
        assert (out / protocol / "right.npy").is_file()
    import numpy as np
    videos = np.load(out / "unconditional" / "up.npy")
    assert videos.shape == (2, 10, 64, 64, 3) and videos.dtype == np.uint8
    assert (out / "unconditional" / "masks" / "up" / "0001_scale64.png").is_file()
    assert (out / "unconditional" / "sequences" / "down" / "0000.png").is_file()


@pytest.mark.slow
def test_resume_refuses_changed_model_options(tmp_path, synthetic_root):
    common = ["train.py", "--dataset", "synthetic", "--dataroot", str(synthetic_root), "--exp_name", "r",
              *SMALL_FLAGS, *dirs(tmp_path), "--val_freq", "100", "--print_freq", "100"]
    assert run(common + ["--total_iters", "1"]).returncode == 0
    changed = run([a if a != "4" else "8" for a in common] + ["--total_iters", "2", "--resume"])
    assert changed.returncode == 2
    assert "different options" in changed.stderr and "--gf_dim" in changed.stderr
    assert "Traceback" not in changed.stderr
    latest = tmp_path / "ckpt" / "r" / "latest.pth"
    lrs = {g["lr"] for o in torch.load(latest, weights_only=True)["optimizers"].values() for g in o["param_groups"]}
    assert lrs == {2e-4}
    new_lr = run(common + ["--total_iters", "2", "--resume", "--lr", "1e-3"])
    assert new_lr.returncode == 2 and "--lr 0.0002 (now 0.001)" in new_lr.stderr
    forced = run(common + ["--total_iters", "2", "--resume", "--lr", "1e-3", "--force_resume_config"])
    assert forced.returncode == 0, forced.stderr[-2000:]
    lrs = {g["lr"] for o in torch.load(latest, weights_only=True)["optimizers"].values() for g in o["param_groups"]}
    assert lrs == {1e-3}
    per_group = common + ["--lr", "1e-3", "--group_lr", "motion_decoder=5e-3"]
    refused = run(per_group + ["--total_iters", "3", "--resume"])
    assert refused.returncode == 2 and "--group_lr {} (now {'motion_decoder': 0.005})" in refused.stderr
    forced = run(per_group + ["--total_iters", "3", "--resume", "--force_resume_config"])
    assert forced.returncode == 0, forced.stderr[-2000:]
    lrs = {name: {g["lr"] for g in o["param_groups"]}
           for name, o in torch.load(latest, weights_only=True)["optimizers"].items()}
    assert lrs == {name: {5e-3 if name == "motion_decoder" else 1e-3} for name in lrs} and len(lrs) == 6


@pytest.mark.parametrize("dataset,expected", [("MUG", (6, 37)), ("Weizmann", (10, 37)), ("SynAction", (20, 1))])
def test_dry_run_prints_params_line_without_data(dataset, expected):
    result = run(["train.py", "--dataset", dataset, "--dry_run", "--joint", "--cont_dim", "512", "--gf_dim", "16"])
    assert result.returncode == 0, result.stderr
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("params generator=") and " image_discriminator=" in last and " video_discriminator=" in last
    counts = dict(part.split("=") for part in last.split()[1:])
    from models import TwoStreamNetworks
    nets = TwoStreamNetworks(expected[0], cont_dim=512, gf_dim=16, joint=True)
    assert int(counts["generator"]) == sum(p.numel() for p in nets.generator.parameters())
    assert int(counts["video_discriminator"]) == sum(p.numel() for p in nets.video_discriminator.parameters())
    assert int(counts["image_discriminator"]) == 16 * 3 * 16 + 32 * 16 * 16 + 64 + 64 * 32 * 16 + 128 + 64 * 16


@pytest.mark.parametrize("args,words", [
    (["--dataset", "synthetic", "--dataroot", "/nonexistent/data"], ["/nonexistent/data"]),
    (["--dataset", "Kinetics", "--dataroot", "/tmp"], ["unknown dataset", "Kinetics"]),
    (["--dataset", "MUG", "--dataroot", "/tmp", "--kernel_layer", "5"], ["--kernel_layer", "1..4"]),
    (["--dataset", "MUG", "--dataroot", "/tmp", "--ac_kernel", "4"], ["--ac_kernel", "odd"]),
    (["--dataset", "MUG", "--dataroot", "/tmp", "--video_length", "1"], ["--video_length"]),
    (["--dataset", "MUG", "--dataroot", "/tmp", "--c_img_dis", "-1"], ["--c_img_dis"]),
    (["--dataset", "MUG", "--dataroot", "/tmp", "--bogus"], ["--bogus"]),
    (["--dataset", "MUG", "--dataroot", "/tmp", "--lr", "0"], ["--lr", "positive"]),
])
def test_user_mistakes_get_one_line(tmp_path, args, words):
    result = run(["train.py", *args, *dirs(tmp_path)])
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for word in words:
        assert word in lines[0]
    assert not (tmp_path / "ckpt").exists()


@pytest.mark.slow
def test_launcher_on_a_folder_without_data(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    env = dict(os.environ, DATAROOT=str(empty), EXP_ROOT=str(tmp_path / "exp"))
    result = subprocess.run(["bash", str(REPO_ROOT / "bashes" / "TwoStreamVAN" / "WeizmannTrain.bash")], env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode != 0
    lines = [line for line in result.stderr.strip().splitlines() if line]
    assert len(lines) == 1 and str(empty) in lines[0] and "Traceback" not in result.stderr, result.stderr
    assert not (tmp_path / "exp" / "checkpoints").exists()


@pytest.mark.slow
def test_resume_is_bit_exact_on_cpu(tmp_path, synthetic_root):
    """A run stopped at iteration 6 and resumed ends with the same weights, optimiser states and
    logged losses as the uninterrupted run."""
    def common(name):
        return ["train.py", "--dataset", "synthetic", "--dataroot", str(synthetic_root), "--exp_name", name,
                *SMALL_FLAGS, *dirs(tmp_path), "--pretrain_iters", "2", "--print_freq", "3", "--val_freq", "6",
                "--save_freq", "100", "--val_batches", "1", "--crop", "--cont_ratio_start", "0.3",
                "--cont_ratio_end", "0.3", "--motion_ratio_start", "0.5", "--motion_ratio_end", "0.5", "--seed", "9",
                "--device", "cpu"]
    assert run(common("straight") + ["--total_iters", "12"]).returncode == 0
    assert run(common("pieces") + ["--total_iters", "6"]).returncode == 0
    assert run(common("pieces") + ["--total_iters", "12", "--resume"]).returncode == 0
    a = torch.load(tmp_path / "ckpt" / "straight" / "latest.pth", weights_only=True)
    b = torch.load(tmp_path / "ckpt" / "pieces" / "latest.pth", weights_only=True)
    assert a["iteration"] == b["iteration"] == 12 and a["counters"] == b["counters"]
    for key, value in a["networks"].items():
        assert torch.equal(value, b["networks"][key]), key
    for group, state in a["optimizers"].items():
        for index, slots in state["state"].items():
            for slot, value in slots.items():
                assert torch.equal(value, b["optimizers"][group]["state"][index][slot]), (group, index, slot)

    def loss_lines(name):
        text = (tmp_path / "logs" / name / "log.txt").read_text().splitlines()
        return [line.split(" ", 2)[2].split("s/it")[-1] for line in text if " it 9/12" in line or " it 12/12" in line]
    assert loss_lines("straight") == loss_lines("pieces") and len(loss_lines("straight")) == 2
