"""Multi-process training (utils/training/distributed.py): the data shards, the synchroniser's collectives,
2 processes x B/2 against 1 process x B, and the real `torchrun train.py` (CPU, gloo)."""
import datetime
import os
import re
import subprocess
import sys

import pytest
import torch
import torch.multiprocessing as mp

from conftest import REPO_ROOT
from test_train_cli import SMALL_FLAGS, dirs

TORCHRUN = os.path.join(os.path.dirname(sys.executable), "torchrun")
TEST_TIMEOUT = datetime.timedelta(seconds=300)   # a deadlock fails the test instead of hanging it


@pytest.fixture(scope="module")
def clips10(tmp_path_factory):
    """Synthetic data with 10-frame videos: a training clip is the whole video (no random start)."""
    root = tmp_path_factory.mktemp("data") / "synthetic"
    result = subprocess.run([sys.executable, "-m", "datasets.synthetic", "--out", str(root), "--videos_per_class",
                             "5", "--frames", "10"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
                            env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)))
    assert result.returncode == 0, result.stderr
    return root


def train_args(root, tmp_path, name, *extra):
    """Arguments of a tiny CPU run through pre-training, content, frame and video steps."""
    return ["--dataset", "synthetic", "--dataroot", str(root), "--exp_name", name, *SMALL_FLAGS, *dirs(tmp_path),
            "--batch_size", "4", "--pretrain_iters", "2", "--print_freq", "2", "--val_freq", "4",
            "--save_freq", "2", "--val_batches", "1", "--cont_ratio_start", "0.5", "--cont_ratio_end", "0.5",
            "--motion_ratio_start", "0.5", "--motion_ratio_end", "0.5", "--seed", "1", "--device", "cpu",
            "--total_iters", "6", *extra]


# --- the data stream ----------------------------------------------------------------------------------

class Numbers(torch.utils.data.Dataset):
    def __len__(self):
        return 10

    def __getitem__(self, index):
        return {"video": torch.tensor(float(index)), "label": index}


def drawn(stream, batches):
    return [stream.next()["label"].tolist() for _ in range(batches)]


def test_each_rank_takes_its_disjoint_part_of_every_global_batch_and_resumes():
    from utils.core.data_stream import EpochBatchStream
    one = EpochBatchStream(Numbers(), 4, 7)
    order = [torch.randperm(10, generator=torch.Generator().manual_seed(7 + e)).tolist() for e in (0, 1)]
    assert drawn(one, 3) == [order[0][0:4], order[0][4:8], order[1][0:4]]   # single process: unchanged
    ranks = [EpochBatchStream(Numbers(), 4, 7, rank=r, world_size=2) for r in (0, 1)]
    parts = [drawn(stream, 3) for stream in ranks]
    assert [a + b for a, b in zip(*parts)] == [order[0][0:4], order[0][4:8], order[1][0:4]]
    resumed = EpochBatchStream(Numbers(), 4, 7, rank=1, world_size=2)
    resumed.load_state_dict(EpochBatchStream(Numbers(), 4, 7).state_dict() | {"epoch": 0, "position": 1})
    assert drawn(resumed, 2) == [parts[1][1], parts[1][2]]
    with pytest.raises(ValueError, match="not divisible"):
        EpochBatchStream(Numbers(), 4, 7, rank=0, world_size=3)


def test_batch_not_divisible_by_the_processes_is_one_line(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), WORLD_SIZE="3", RANK="0", LOCAL_RANK="0")
    result = subprocess.run([sys.executable, "train.py", "--dataset", "MUG", "--dataroot", str(tmp_path),
                             "--batch_size", "4", *dirs(tmp_path)], cwd=REPO_ROOT, env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 2 and result.stderr.strip().count("\n") == 0, result.stderr
    assert "--batch_size 4" in result.stderr and "3 processes" in result.stderr


# --- the synchroniser's collectives --------------------------------------------------------------------

def _collectives_worker(rank, store, out):
    from utils.training.distributed import init_distributed
    sync = init_distributed("cpu", f"file://{store}", rank=rank, world_size=2, local_rank=rank, timeout=TEST_TIMEOUT)
    a, b, c = (torch.nn.Parameter(torch.zeros(2, 3)) for _ in range(3))
    sync.attach({"g": [a, b], "h": [c]})
    grads = {"g": {id(a): torch.full((2, 3), 2.0 + rank), id(b): torch.ones(2, 3) if rank else None},
             "h": {id(c): None}}
    synced = sync.gradients(grads)
    net = torch.nn.BatchNorm1d(2)
    net.running_mean.fill_(rank)
    net.weight.data.fill_(5.0 + rank)
    sync.average_buffers(net)
    sync.broadcast_module(net)
    results = {"finite": (sync.all_finite(True), sync.all_finite(rank == 0)),
               "any": (sync.any(False), sync.any(rank == 1)),
               "costs": [float(x) for x in sync.costs(torch.tensor(0.2 + rank), torch.tensor(1.0 * rank))],
               "means": sync.mean_floats([1.0 + rank, 4.0]), "gathered": sync.gather_objects(rank * 10),
               "ga": synced["g"][id(a)], "gb": synced["g"][id(b)], "hc": synced["h"][id(c)],
               "bn": (net.running_mean.clone(), net.weight.detach().clone())}
    sync.close()
    torch.save(results, os.path.join(out, f"rank{rank}.pt"))


def test_synchroniser_agrees_and_averages_over_two_ranks(tmp_path):
    mp.spawn(_collectives_worker, args=(str(tmp_path / "store"), str(tmp_path)), nprocs=2, join=True)
    results = [torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in (0, 1)]
    for r in results:
        assert r["finite"] == (True, False) and r["any"] == (False, True)
        assert r["costs"] == pytest.approx([0.7, 0.5]) and r["means"] == [1.5, 4.0] and r["gathered"] == [0, 10]
        assert torch.equal(r["ga"], torch.full((2, 3), 2.5))
        assert torch.equal(r["gb"], torch.full((2, 3), 0.5))   # None on rank 0 counts as zeros there
        assert r["hc"] is None                                  # None on every rank stays None
        assert torch.equal(r["bn"][0], torch.full((2,), 0.5)) and torch.equal(r["bn"][1], torch.full((2,), 5.0))


# --- 2 processes x B/2 against 1 process x B ------------------------------------------------------------

def _deterministic_networks(loop, keep):
    """Make the stochastic parts equal between 1 and 2 processes (see the test below); `keep` gets
    the networks and a copy of their initial state."""
    from models import TwoStreamNetworks

    def batch_norm_with_running_statistics(self, x):
        return torch.nn.functional.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                                              False, 0.0, self.eps)

    class Networks:
        @staticmethod
        def from_config(config, num_categories):
            nets = TwoStreamNetworks.from_config(config, num_categories)   # initialised as usual, then:
            torch.nn.modules.batchnorm._BatchNorm.forward = batch_norm_with_running_statistics
            torch.randn_like = torch.zeros_like                            # z = mean in mode 'sample'
            torch.Tensor.normal_ = lambda self, *args, **kwargs: self.zero_()   # z = 0 in mode 'random'
            keep.extend([nets, {k: v.clone() for k, v in nets.state_dict().items()}])
            return nets

    loop.TwoStreamNetworks = Networks


def _loop_worker(rank, world_size, store, argv, out):
    import utils.training.loop as loop
    from train import build_datasets
    from utils.training.distributed import init_distributed
    from utils.training.options import parse_train_options
    kept = []
    _deterministic_networks(loop, kept)
    config = parse_train_options(argv)
    train_set, test_set = build_datasets(config)
    sync = init_distributed("cpu", f"file://{store}", rank=rank, world_size=world_size, local_rank=rank,
                            timeout=TEST_TIMEOUT)
    try:
        loop.training_loop(config, train_set, test_set, sync=sync)
    finally:
        if sync is not None:
            sync.close()
    torch.save({"final": kept[0].state_dict(), "initial": kept[1]}, os.path.join(out, f"final_{world_size}_{rank}.pt"))


def logged_numbers(log):
    """Every number of the training and validation loss lines of a log.txt."""
    lines = [line.split(" ", 2)[2] for line in log.read_text().splitlines() if re.search(r" (it|val) \d", line)]
    return [float(x) for line in lines for x in re.findall(r"=(-?[0-9.e+-]+)", line.split("s/it")[-1])]


@pytest.mark.slow
def test_two_processes_with_half_batches_step_like_one_process(tmp_path, clips10):
    """6 iterations (pre-training, content, frame, video) of `training_loop` with 1 process x batch 4 and with
    2 processes x 2 clips (gloo, FileStore): the losses logged every 2 iterations (means over the global batch)
    and the final weights must agree to float rounding, and both ranks must hold identical weights.

    What the comparison neutralises, and why: BatchNorm in training mode normalises by the statistics of
    each process's own shard, so 2 x 2 clips is legitimately a different model from 1 x 4; here BatchNorm
    uses its running statistics (a per-sample affine map, equal for any split of the batch). The Gaussian
    noise is drawn per rank (seed + rank), so no split can reproduce one process's draws; here it is zero
    (z = the mean in mode 'sample', z = 0 in mode 'random'). What remains is exactly what multi-process
    training must get right: the shards of the global batch, the same task / t / frame / ε draws on every
    rank, gradients averaged over ranks, the balance rule on averaged costs, logged means over ranks.
    The 10-frame data makes every training clip its whole video (no random start); no --crop.
    """
    for world_size in (1, 2):
        argv = train_args(clips10, tmp_path, f"w{world_size}")
        mp.spawn(_loop_worker, args=(world_size, str(tmp_path / f"store{world_size}"), argv, str(tmp_path)),
                 nprocs=world_size, join=True)
    saved = torch.load(tmp_path / "final_1_0.pt", weights_only=True)
    one, initial = saved["final"], saved["initial"]
    two = [torch.load(tmp_path / f"final_2_{r}.pt", weights_only=True)["final"] for r in (0, 1)]
    for key, value in two[0].items():
        assert torch.equal(value, two[1][key]), key          # the ranks never drift apart
    state = torch.load(tmp_path / "ckpt" / "w2" / "latest.pth", weights_only=True)
    assert state["iteration"] == 6 and len(state["rng_ranks"]) == 2
    assert all(state["counters"].get(task, 0) >= 1 for task in ("pretrain", "content", "frame", "video")), \
        state["counters"]
    # Averaging two half-batch gradients rounds differently from one full-batch mean. Adam's step
    # g/(|g| + eps) turns that rounding into up to ±lr for the few elements whose gradient is near
    # eps or changes sign (how many depends on the CPU's kernels), and leaves every other element's
    # step unchanged to float rounding. So each tensor's *mean* difference must stay below 1e-3 of
    # how far training moved it on average (plus 64 u of its scale), and no element may differ by
    # more than Adam can move it in these 6 iterations (≤ 2·lr per step of its group: 12·lr).
    # Wrong shards or a wrong average change most elements' steps and fail the first bound.
    u, lr = torch.finfo(torch.float32).eps / 2, 2e-4
    for key, value in one.items():
        if not value.is_floating_point():
            assert torch.equal(two[0][key], value), key
            continue
        off, travel = (two[0][key] - value).abs(), (value - initial[key]).abs()
        scale = float(value.abs().max())
        assert float(off.mean()) <= 1e-3 * float(travel.mean()) + 64 * u * scale, \
            f"{key}: two processes differ by {float(off.mean()):.3g} on average; training moved it {float(travel.mean()):.3g}"
        if key in dict(initial) and not key.endswith(("running_mean", "running_var")):
            assert float(off.max()) <= 12 * lr + 64 * u * scale, f"{key}: {float(off.max()):.3g}"
    numbers_one, numbers_two = (logged_numbers(tmp_path / "logs" / name / "log.txt") for name in ("w1", "w2"))
    assert len(numbers_one) == len(numbers_two) > 20
    # logged with 4 significant digits: one unit of the last one is at most 1e-3 of the value
    assert numbers_two == pytest.approx(numbers_one, rel=1e-3, abs=1e-6)


# --- the real torchrun -----------------------------------------------------------------------------------

WRAPPER = """\
import os, runpy, signal, sys
sys.path.insert(0, {repo!r})
import torch
import utils.training.loop as loop
rank, out, steps = int(os.environ["RANK"]), os.environ["TEST_OUT"], []
real_step, real_resume = loop.train_step, loop.resume_state

def step(task, nets, groups, optimizers, batch, *args, **kwargs):
    steps.append(nets)
    if rank == 1 and len(steps) == int(os.environ.get("NAN_AT", 0)):
        batch.images = torch.full_like(batch.images, float("nan"))
    result = real_step(task, nets, groups, optimizers, batch, *args, **kwargs)
    if rank == 1 and len(steps) == int(os.environ.get("TERM_AT", 0)):
        os.kill(os.getpid(), signal.SIGTERM)
    parameters = {{name: p.detach().clone() for name, p in nets.named_parameters()}}   # BatchNorm buffers: per rank
    torch.save(parameters, os.path.join(out, f"last_rank{{rank}}.pt"))
    return result

def resume(config, nets, *args, **kwargs):
    result = real_resume(config, nets, *args, **kwargs)
    torch.save(nets.state_dict(), os.path.join(out, f"resumed_rank{{rank}}.pt"))
    return result

loop.train_step, loop.resume_state = step, resume
sys.argv = ["train.py"] + sys.argv[1:]
runpy.run_path({train!r}, run_name="__main__")
"""


def torchrun(tmp_path, args, **env):
    """`torchrun --standalone --nproc_per_node 2` on train.py (through a recording wrapper)."""
    wrapper = tmp_path / "wrapped_train.py"
    wrapper.write_text(WRAPPER.format(repo=str(REPO_ROOT), train=str(REPO_ROOT / "train.py")))
    (tmp_path / "out").mkdir(exist_ok=True)
    full_env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), OMP_NUM_THREADS="1", TEST_OUT=str(tmp_path / "out"),
                    **env)
    return subprocess.run([TORCHRUN, "--standalone", "--nproc_per_node", "2", str(wrapper), *args], cwd=REPO_ROOT,
                          env=full_env, capture_output=True, text=True, timeout=600)


def equal_weights(a, b):
    return all(torch.equal(value, b[key]) for key, value in a.items())


@pytest.mark.slow
def test_torchrun_two_processes_only_rank_0_writes_and_resume_continues(tmp_path, clips10):
    args = train_args(clips10, tmp_path, "tr", "--total_iters", "4")
    first = torchrun(tmp_path, args)
    assert first.returncode == 0, first.stderr[-4000:]
    ckpt, logs = tmp_path / "ckpt" / "tr", tmp_path / "logs" / "tr"
    assert sorted(os.listdir(ckpt)) == ["2.pth", "4.pth", "latest.pth", "options.json"]
    assert len([n for n in os.listdir(logs) if n.startswith("events.out.tfevents")]) == 1
    assert len([n for n in os.listdir(logs) if n.startswith("options_")]) == 1
    log = (logs / "log.txt").read_text()
    assert log.count("starting tr at iteration 0") == 1 and "x 2 processes (2 clips each" in log
    assert log.count("it 4/4") == 1 and log.count("val 4 content") == 1
    assert "--host_memory retain: not applied under torchrun" in log
    saved = torch.load(ckpt / "latest.pth", weights_only=True)
    assert saved["iteration"] == 4 and len(saved["rng_ranks"]) == 2
    last = [torch.load(tmp_path / "out" / f"last_rank{r}.pt", weights_only=True) for r in (0, 1)]
    assert equal_weights(last[0], last[1])

    resumed = torchrun(tmp_path, train_args(clips10, tmp_path, "tr", "--total_iters", "6", "--resume"))
    assert resumed.returncode == 0, resumed.stderr[-4000:]
    assert "resuming tr at iteration 4" in (logs / "log.txt").read_text()
    for r in (0, 1):   # every rank loaded the checkpoint
        assert equal_weights(torch.load(tmp_path / "out" / f"resumed_rank{r}.pt", weights_only=True),
                             saved["networks"])
    final = torch.load(ckpt / "latest.pth", weights_only=True)
    assert final["iteration"] == 6 and sum(final["counters"].values()) == 6
    assert sorted(os.listdir(ckpt)) == ["2.pth", "4.pth", "6.pth", "latest.pth", "options.json"]


@pytest.mark.slow
def test_torchrun_ranks_agree_on_a_nonfinite_step_a_signal_and_an_abort(tmp_path, clips10):
    """A NaN batch on rank 1 only skips the step on both ranks; SIGTERM to rank 1 only stops both after that
    iteration with `latest` saved; with --max_nonfinite 1 both ranks stop (no deadlock, no save)."""
    args = train_args(clips10, tmp_path, "sig", "--total_iters", "8", "--val_freq", "100", "--save_freq", "100")
    stopped = torchrun(tmp_path, args, NAN_AT="2", TERM_AT="3")
    assert stopped.returncode == 0, stopped.stderr[-4000:]
    log = (tmp_path / "logs" / "sig" / "log.txt").read_text()
    assert "iteration 2: non-finite" in log and "step skipped (1 in a row)" in log
    assert "stopping at iteration 3" in log and "stopped at iteration 3" in log
    state = torch.load(tmp_path / "ckpt" / "sig" / "latest.pth", weights_only=True)
    assert state["iteration"] == 3 and state["counters"]["nonfinite_skipped"] == 1
    last = [torch.load(tmp_path / "out" / f"last_rank{r}.pt", weights_only=True) for r in (0, 1)]
    assert equal_weights(last[0], last[1])

    aborted = torchrun(tmp_path, train_args(clips10, tmp_path, "abort", "--max_nonfinite", "1"), NAN_AT="3")
    assert aborted.returncode != 0
    log = (tmp_path / "logs" / "abort" / "log.txt").read_text()
    assert "1 consecutive non-finite losses (iterations 3-3" in log
    assert sorted(os.listdir(tmp_path / "ckpt" / "abort")) == ["2.pth", "options.json"]   # no save after the NaN
