"""The training loop of TRAINING.md §4: task draw, update, print / validate / save cadence, resume.

`training_loop(config, train_set, test_set)` owns nothing but the loop: networks
come from `models`, the tasks' forward passes from `utils.tasks`, the update rule
from `utils.optimization`, checkpoints from `utils.checkpoint`.
"""
import os
import random
import signal
import time
from collections import Counter, defaultdict

import torch
from tqdm import tqdm

from models import TwoStreamNetworks
from utils.checkpoint import CheckpointError, checkpoint_path, list_checkpoints, load_checkpoint, prune_checkpoints, \
    save_checkpoint
from utils.data_stream import EpochBatchStream, validation_batches
from utils.logger import RunLogger
from utils.optimization import build_optimizers, update_step
from utils.options import RESUME_OPTIONS, write_config
from utils.rng import capture_rng_state, restore_rng_state, seed_everything
from utils.schedules import Schedules
from utils.tasks import Batch, run_task

TASKS = ("pretrain", "content", "frame", "video")
CONSTANT_WEIGHTS = ("c_img_dis", "xp_vs_xtilde", "img_m_kl", "pred_scale_feat", "video_scale_feat")


def resolve_device(name):
    """'auto' -> cuda when available else cpu; anything else as given."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def step_values(config, schedules, iteration):
    """The loss weights and ε of one iteration (scheduled and constant)."""
    values = {name: config[name] for name in CONSTANT_WEIGHTS}
    values.update(c_kl=schedules.c_kl(iteration), m_kl=schedules.m_kl(iteration),
                  epsilon=schedules.epsilon(iteration))
    return values


def visual_grid(visuals):
    """Task visuals -> videos `[N, C, T, H, W]` for one TensorBoard grid (frames become 1-frame columns)."""
    parts = [v.unsqueeze(2) if v.dim() == 4 else v for v in visuals.values()]
    if parts[0].shape[2] == 1:
        return torch.cat(parts, dim=2)            # rows = samples, columns = real / output / random
    return torch.cat([p[:4] for p in parts], 0)   # rows = real videos, then generated ones


def checkpoint_state(config, nets, optimizers, iteration, counters, stream, classes):
    """Everything a run depends on, as tensors and plain containers."""
    return {"iteration": iteration, "networks": nets.state_dict(),
            "optimizers": {name: opt.state_dict() for name, opt in optimizers.items()},
            "counters": dict(counters), "rng": capture_rng_state(), "data": stream.state_dict(),
            "config": {k: v for k, v in config.items()}, "classes": list(classes)}


def resume_state(config, nets, optimizers, stream, device):
    """Load `--which_iter` of this run into the networks/optimisers/stream; returns `(iteration, counters)`."""
    directory = config["checkpoint_dir_run"]
    available = list_checkpoints(directory) if os.path.isdir(directory) else []
    name = config["which_iter"]
    if name not in available:
        raise CheckpointError(f"--resume: no checkpoint {name!r} in {directory} "
                              f"(available: {', '.join(available) or 'none'})")
    path = checkpoint_path(directory, name)
    state = load_checkpoint(path, map_location=device)
    for key in ("networks", "optimizers", "iteration", "config", "rng", "data"):
        if key not in state:
            raise CheckpointError(f"{path} is not a TwoStreamVAN training checkpoint (no {key!r})")
    differing = [k for k in RESUME_OPTIONS if state["config"].get(k) != config.get(k)]
    if differing and not config.get("force_resume_config"):
        raise CheckpointError(f"--resume: {path} was trained with different options: "
                              + ", ".join(f"--{k} {state['config'].get(k)!r} (now {config.get(k)!r})" for k in differing))
    nets.load_state_dict(state["networks"])
    for name_, opt in optimizers.items():
        opt.load_state_dict(state["optimizers"][name_])
    stream.load_state_dict(state["data"])
    restore_rng_state(state["rng"])
    return int(state["iteration"]), Counter(state.get("counters", {}))


@torch.no_grad()
def validate(config, nets, test_set, device, iteration, schedules, logger, pretraining):
    """Eval-mode content (and, after pre-training, frame and video) tasks on the test split with mode
    'mean' and ε = 0, on a forked, fixed-seed RNG so that training randomness is untouched."""
    tasks = ("content",) if pretraining else ("content", "frame", "video")
    values = step_values(config, schedules, iteration)
    values["epsilon"] = 0.0
    nets.eval()
    summary = {}
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(config["seed"])
        rng = random.Random(config["seed"])
        for task in tasks:
            totals, count = defaultdict(float), 0
            for i, item in enumerate(validation_batches(test_set, config["batch_size"], config["val_batches"])):
                batch = Batch.from_loader(item, nets.generator.num_categories, device)
                losses, visuals = run_task(task, nets, batch, values, rng, mode="mean")
                for key, value in losses.scalars.items():
                    totals[key] += float(value)
                count += 1
                if i == 0:
                    logger.videos(f"val/{task}", visual_grid(visuals), iteration)
            if count:
                summary[task] = {k: v / count for k, v in totals.items()}
                logger.scalars(f"val/{task}", summary[task], iteration)
    nets.train()
    if not summary:
        logger.line(f"validation at {iteration}: the test split has no full batch of {config['batch_size']}")
    for task, values_ in summary.items():
        logger.line(f"val {iteration} {task}: " + " ".join(f"{k}={v:.4g}" for k, v in values_.items()))
    return summary


class _StopRequest:
    """Turns SIGINT/SIGTERM into a flag checked between iterations."""

    def __init__(self):
        self.requested = False
        self._previous = {}

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        self.requested = True

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def training_loop(config, train_set, test_set):
    """Train TwoStreamVAN as TRAINING.md §4 describes; returns the final iteration."""
    device = resolve_device(config["device"])
    if config["threads"]:
        torch.set_num_threads(config["threads"])
    seed_everything(config["seed"])
    num_categories = len(train_set.classes)
    nets = TwoStreamNetworks.from_config(config, num_categories).to(device)
    groups = nets.parameter_groups()
    optimizers = build_optimizers(groups)
    stream = EpochBatchStream(train_set, config["batch_size"], config["seed"], config["num_workers"],
                              pin_memory=device.type == "cuda")
    schedules = Schedules.from_config(config)
    iteration, counters = 0, Counter()
    if config["resume"]:
        iteration, counters = resume_state(config, nets, optimizers, stream, device)
    ckpt_dir, log_dir = config["checkpoint_dir_run"], config["log_dir_run"]
    os.makedirs(ckpt_dir, exist_ok=True)
    write_config(config, os.path.join(ckpt_dir, "options.json"))
    logger = RunLogger(log_dir)
    write_config(config, os.path.join(log_dir, f"options_{time.strftime('%Y%m%d-%H%M%S')}.json"))
    logger.line(f"{'resuming' if config['resume'] else 'starting'} {config['exp_name']} at iteration {iteration} "
                f"on {device}: {len(train_set)} training clips, {len(test_set)} test clips, "
                f"{num_categories} classes")

    def save(name):
        save_checkpoint(checkpoint_path(ckpt_dir, name),
                        checkpoint_state(config, nets, optimizers, iteration, counters, stream, train_set.classes))

    running = defaultdict(lambda: defaultdict(float))
    window_tasks, window_start = Counter(), time.time()
    progress = tqdm(total=config["total_iters"], initial=iteration, desc=config["exp_name"], dynamic_ncols=True)
    with _StopRequest() as stop:
        while iteration < config["total_iters"] and not stop.requested:
            iteration += 1
            batch = Batch.from_loader(stream.next(), num_categories, device)
            task = schedules.task(iteration, random)
            losses, visuals = run_task(task, nets, batch, step_values(config, schedules, iteration), random)
            updated = update_step(losses, groups, optimizers)
            counters[task] += 1
            window_tasks[task] += 1
            if updated is None:
                counters["nonfinite_skipped"] += 1
                logger.line(f"iteration {iteration}: non-finite {task} loss, step skipped")
            for key, value in losses.scalars.items():
                running[task][key] += float(value.detach() if torch.is_tensor(value) else value)
            progress.update(1)
            if iteration % config["print_freq"] == 0:
                elapsed = (time.time() - window_start) / max(sum(window_tasks.values()), 1)
                parts = []
                for name in TASKS:
                    if window_tasks[name]:
                        means = {k: v / window_tasks[name] for k, v in running[name].items()}
                        logger.scalars(f"train/{name}", means, iteration)
                        parts.append(f"{name}[{window_tasks[name]}] " + " ".join(
                            f"{k}={means[k]:.4g}" for k in ("mse", "kl", "scale_feat") if k in means))
                logger.scalars("train", {"seconds_per_iter": elapsed, **{f"count_{k}": counters[k] for k in TASKS}},
                               iteration)
                logger.line(f"it {iteration}/{config['total_iters']} {elapsed:.3f}s/it | " + " | ".join(parts))
                logger.videos(f"train/{task}", visual_grid(visuals), iteration)
                running.clear()
                window_tasks, window_start = Counter(), time.time()
            del losses, visuals
            if iteration % config["val_freq"] == 0:
                validate(config, nets, test_set, device, iteration, schedules, logger,
                         iteration < config["pretrain_iters"])
                save("latest")
            if iteration % config["save_freq"] == 0:
                save(iteration)
                if config["keep_checkpoints"]:
                    prune_checkpoints(ckpt_dir, config["keep_checkpoints"])
        progress.close()
        save("latest")
        logger.line(f"{'stopped' if stop.requested else 'finished'} at iteration {iteration}; "
                    f"checkpoint {checkpoint_path(ckpt_dir, 'latest')}; TensorBoard run {log_dir}")
    logger.close()
    return iteration
