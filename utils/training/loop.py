"""The training loop of TRAINING.md §4: task draw, update, print / validate / save cadence, resume.

`training_loop(config, train_set, test_set)` owns nothing but the loop: networks
come from `models`, the tasks' forward passes from `utils.training.tasks`, the update rule
from `utils.training.optimization`, checkpoints from `utils.core.checkpoint`. Reliability: a
step with a non-finite loss changes nothing (BatchNorm buffers are restored);
`--max_nonfinite` such steps in a row stop the run without saving; SIGINT/SIGTERM
stop it after the current iteration with `latest` saved once.

Under torchrun (`sync`, a `utils.training.distributed.Synchroniser`) every rank runs this
loop on its shard of the global batch; the ranks agree on non-finite steps, the
balance decisions, the gradients and stopping; only rank 0 writes files and logs.
"""
import os
import random
import signal
import time
from collections import Counter, defaultdict

import torch
from tqdm import tqdm

from models import TwoStreamNetworks
from utils.core.checkpoint import SUFFIX, TMP_PREFIX, TMP_SUFFIX, CheckpointError, checkpoint_path, list_checkpoints, \
    load_checkpoint, prune_checkpoints, save_checkpoint
from utils.core.cli import TrainingAborted
from utils.core.config import write_config
from utils.core.data_stream import Batch, EpochBatchStream, validation_batches
from utils.core.device import resolve_device
from utils.core.host_memory import configure_host_memory
from utils.core.logger import RunLogger
from utils.core.rng import capture_rng_state, restore_rng_state, seed_everything
from utils.evaluation.learning_curves import LearningCurve
from utils.evaluation.video_scoring import validation_scores
from utils.training.divergence import nonfinite_cause
from utils.training.optimization import LEARNING_RATE, build_optimizers, learning_rates, update_step
from utils.training.options import RESUME_OPTIONS
from utils.training.schedules import Schedules
from utils.training.tasks import run_task

TASKS = ("pretrain", "content", "frame", "video")
CONSTANT_WEIGHTS = ("c_img_dis", "xp_vs_xtilde", "img_m_kl", "pred_scale_feat", "video_scale_feat")


def configure_precision(config, device):
    """`--tf32`: allow TF32 matrix products and cuDNN convolutions on CUDA (no effect on the CPU)."""
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = bool(config.get("tf32"))
        torch.backends.cudnn.allow_tf32 = bool(config.get("tf32"))


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


class LossWindow:
    """Per-task loss sums and step counts since the last print. Part of a checkpoint, so that the
    means printed after a resume are those of the uninterrupted run."""

    def __init__(self):
        self.sums, self.counts = defaultdict(lambda: defaultdict(float)), Counter()
        self.reset()

    def reset(self):
        """Start a new window (and its timer)."""
        self.sums.clear()
        self.counts.clear()
        self.timed_steps, self.started = 0, time.time()

    def add(self, task, scalars):
        """Add one step's scalar losses of `task`."""
        self.counts[task] += 1
        self.timed_steps += 1
        for key, value in scalars.items():
            self.sums[task][key] += float(value.detach() if torch.is_tensor(value) else value)

    def means(self):
        """Dict task -> dict loss name -> mean over the window, in TASKS order."""
        return {task: {k: v / self.counts[task] for k, v in self.sums[task].items()}
                for task in TASKS if self.counts[task]}

    def seconds_per_step(self):
        """Wall seconds per step run by this process in this window."""
        return (time.time() - self.started) / max(self.timed_steps, 1)

    def state_dict(self):
        """Sums and counts as plain containers."""
        return {"sums": {task: dict(sums) for task, sums in self.sums.items()}, "counts": dict(self.counts)}

    def load_state_dict(self, state):
        """Restore what `state_dict` returned."""
        self.reset()
        for task, sums in state["sums"].items():
            self.sums[task].update(sums)
        self.counts.update(state["counts"])

    def average_over_ranks(self, sync):
        """Replace every sum by its mean over ranks (counts agree), so that the means are those of the
        global batches; a no-op without `sync`. Every rank must call it at the same iteration."""
        if sync is None:
            return
        keys = [(task, key) for task in TASKS for key in self.sums.get(task, {})]
        for (task, key), value in zip(keys, sync.mean_floats([self.sums[task][key] for task, key in keys])):
            self.sums[task][key] = value


def checkpoint_state(config, nets, optimizers, iteration, counters, stream, classes, window, rng_ranks=None):
    """Everything a run depends on, as tensors and plain containers (`rng_ranks`: every rank's
    random states under torchrun, in rank order)."""
    state = {"iteration": iteration, "networks": nets.state_dict(),
             "optimizers": {name: opt.state_dict() for name, opt in optimizers.items()},
             "counters": dict(counters), "rng": capture_rng_state(), "data": stream.state_dict(),
             "log_window": window.state_dict(), "config": {k: v for k, v in config.items()},
             "classes": list(classes)}
    if rng_ranks is not None:
        state["rng_ranks"] = rng_ranks
    return state


def resume_checkpoint_path(config):
    """Path of `--which_iter` in this run's checkpoint folder; CheckpointError listing what exists."""
    directory = config["checkpoint_dir_run"]
    available = list_checkpoints(directory)
    if config["which_iter"] not in available:
        raise CheckpointError(f"--resume: no checkpoint {config['which_iter']!r} in {directory} "
                              f"(available: {', '.join(available) or 'none'})")
    return checkpoint_path(directory, config["which_iter"])


def resume_state(config, nets, optimizers, stream, window, classes, sync=None):
    """Load `--which_iter` of this run into the networks, optimisers, data stream, loss window and RNGs.

    Under torchrun (`sync`) every rank reads the same file and takes its own saved random states
    (same number of processes), else rank 0's with torch and NumPy reseeded per rank.
    Returns `(iteration, counters, path)`; CheckpointError for a file that does not fit this run.
    """
    path = resume_checkpoint_path(config)
    state = load_checkpoint(path, map_location="cpu")  # RNG states stay on the CPU; load_state_dict moves the rest
    for key in ("networks", "optimizers", "iteration", "config", "rng", "data"):
        if key not in state:
            raise CheckpointError(f"{path} is not a TwoStreamVAN training checkpoint (no {key!r})")
    # an option missing from an older checkpoint compares as off (False), e.g. --identity_labels,
    # or as its published value (--lr 2e-4, no --group_lr)
    def value(options, key):
        return options.get(key, {"lr": LEARNING_RATE, "group_lr": {}}.get(key, False))
    differing = [k for k in RESUME_OPTIONS if value(state["config"], k) != value(config, k)]
    if differing and not config.get("force_resume_config"):
        raise CheckpointError(f"--resume: {path} was trained with different options: " + ", ".join(
            f"--{k} {value(state['config'], k)!r} (now {value(config, k)!r})" for k in differing))
    trained_classes = list(state.get("classes", classes))
    if trained_classes != list(classes):
        raise CheckpointError(f"--resume: {path} was trained on the classes {', '.join(trained_classes)}; "
                              f"the data in {config['dataroot']} has {', '.join(classes)}")
    try:
        nets.load_state_dict(state["networks"])
        rates = learning_rates(optimizers, config.get("lr", LEARNING_RATE), config.get("group_lr"))
        for name, opt in optimizers.items():
            opt.load_state_dict(state["optimizers"][name])
            for group in opt.param_groups:   # the saved state carries the old rates; the configured ones win
                group["lr"] = rates[name]
    except (RuntimeError, ValueError, KeyError) as error:
        detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(f"--resume: {path} does not fit the configured model ({detail[:300]})") from None
    stream.load_state_dict(state["data"])
    window.load_state_dict(state.get("log_window", {"sums": {}, "counts": {}}))
    restore_rng_state(state["rng"])
    if sync is not None:
        ranks = state.get("rng_ranks")
        if ranks is not None and len(ranks) == sync.world_size:
            restore_rng_state(ranks[sync.rank])
        else:  # another number of processes: continue, not bit-exactly
            sync.seed_rank_streams(config["seed"] + 1_000_003 * int(state["iteration"]))
    return int(state["iteration"]), Counter(state.get("counters", {})), path


def remove_unfinished_saves(directory):
    """Delete the temporary files that saves killed mid-write left in `directory`; returns their names."""
    if not os.path.isdir(directory):
        return []
    stale = sorted(name for name in os.listdir(directory)
                   if name.startswith(TMP_PREFIX) and name.endswith(TMP_SUFFIX) and SUFFIX + "." in name)
    for name in stale:
        os.remove(os.path.join(directory, name))
    return stale


def train_step(task, nets, groups, optimizers, batch, values, rng, sync=None, amp="off", grad_clip=0.0):
    """One iteration's forward pass and update: `(losses, visuals, updated group names or None)`.

    `sync`: the multi-process synchroniser of `utils.training.optimization.update_step` (None: one process).
    `amp`: 'bf16' autocasts the networks (`utils.training.tasks.run_task`).
    `grad_clip`: per-group gradient-norm clipping before the Adam steps (`--grad_clip`; 0: off).

    None means a non-finite loss: no optimiser stepped and the BatchNorm buffers, which the
    train-mode forward moved (perhaps to NaN), are restored to their values before it.
    """
    buffers = list(nets.buffers())
    before = [b.detach().clone() for b in buffers]
    losses, visuals = run_task(task, nets, batch, values, rng, amp=amp)
    updated = update_step(losses, groups, optimizers, sync, max_norm=grad_clip)
    if updated is None:
        with torch.no_grad():
            for buffer, saved in zip(buffers, before):
                buffer.copy_(saved)
    return losses, visuals, updated


def weights_are_finite(nets):
    """True when every floating-point parameter and buffer of the networks is finite. (Adam's state
    may hold an inf, a squared gradient that overflowed; that only stops the element's updates.)"""
    return all(bool(torch.isfinite(t).all()) for t in nets.state_dict().values() if t.is_floating_point())


@torch.no_grad()
def validate(config, nets, test_set, device, iteration, schedules, logger, pretraining, curve=None):
    """Eval-mode content (and, after pre-training, frame and video) tasks on the test split with mode
    'mean' and ε = 0, on a forked, fixed-seed RNG so that training randomness is untouched; with
    `--val_classifier`, 32 generated videos per class scored too (summary['generated'], see
    utils.evaluation.video_scoring.validation_scores). `curve`: a `utils.evaluation.learning_curves.LearningCurve` that
    records the summary and redraws the run's learning_curve.png. Returns the summary dict task -> mean losses."""
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
        # during pre-training only the content task is validated: no generation, no scoring (TRAINING.md §4)
        generated = None if pretraining else validation_scores(config, nets.generator, test_set, device, logger)
    nets.train()
    if not summary:
        logger.line(f"validation at {iteration}: the test split has no full batch of {config['batch_size']}")
    if generated is not None:
        summary["generated"] = generated
        logger.scalars("val/generated", generated, iteration)
    for task, values_ in summary.items():
        logger.line(f"val {iteration} {task}: " + " ".join(f"{k}={v:.4g}" for k, v in values_.items()))
    if curve is not None:
        curve.add(iteration, summary)
    return summary


class _StopRequest:
    """Turns SIGINT/SIGTERM into a flag (and the signal's name) checked between iterations."""

    def __init__(self):
        self.signal_name = None
        self._previous = {}

    @property
    def requested(self):
        return self.signal_name is not None

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        self.signal_name = signal.Signals(signum).name

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def log_window(logger, window, counters, iteration, total_iters, task, visuals):
    """The print-cadence report: mean losses per task, seconds per step, counts; then a new window."""
    parts = []
    for name, means in window.means().items():
        logger.scalars(f"train/{name}", means, iteration)
        parts.append(f"{name}[{window.counts[name]}] " + " ".join(
            f"{k}={means[k]:.4g}" for k in ("mse", "kl", "scale_feat") if k in means))
    seconds = window.seconds_per_step()
    logger.scalars("train", {"seconds_per_iter": seconds, **{f"count_{k}": counters[k] for k in TASKS}}, iteration)
    logger.line(f"it {iteration}/{total_iters} {seconds:.3f}s/it | " + " | ".join(parts))
    logger.videos(f"train/{task}", visual_grid(visuals), iteration)
    window.reset()


def training_loop(config, train_set, test_set, sync=None):
    """Train TwoStreamVAN as TRAINING.md §4 describes; returns the final iteration.

    `sync`: this rank's `utils.training.distributed.Synchroniser` under torchrun (None: one process).
    Raises TrainingAborted after `max_nonfinite` consecutive non-finite steps (no save).
    """
    device = resolve_device(config["device"]) if sync is None else sync.device
    main = sync is None or sync.is_main   # only rank 0 writes files, logs and the progress bar
    if config["threads"]:
        torch.set_num_threads(config["threads"])
    # under torchrun the ranks keep malloc's defaults: with `retain` a rank aborted at exit (SIGABRT,
    # "terminate called without an active exception") in each of two full test runs (README, Speed)
    retained = configure_host_memory(config.get("host_memory", "retain")) if sync is None else False
    configure_precision(config, device)
    seed_everything(config["seed"])
    num_categories = len(train_set.classes)
    nets = TwoStreamNetworks.from_config(config, num_categories).to(device)
    groups = nets.parameter_groups()
    optimizers = build_optimizers(groups, lr=config.get("lr", LEARNING_RATE), group_lr=config.get("group_lr"))
    stream = EpochBatchStream(train_set, config["batch_size"], config["seed"], config["num_workers"],
                              pin_memory=device.type == "cuda", rank=sync.rank if sync else 0,
                              world_size=sync.world_size if sync else 1)
    schedules = Schedules.from_config(config)
    window = LossWindow()
    iteration, counters, last_good = 0, Counter(), None
    if sync is not None:
        sync.attach(groups)
        sync.seed_rank_streams(config["seed"])   # after building: the same initial weights on every rank
    if config["resume"]:
        iteration, counters, resumed_from = resume_state(config, nets, optimizers, stream, window,
                                                         train_set.classes, sync)
        last_good = (resumed_from, iteration)
    if sync is not None:
        sync.broadcast_module(nets)   # identical already (same seed or file); rank 0's, to be sure
    ckpt_dir, log_dir = config["checkpoint_dir_run"], config["log_dir_run"]
    unfinished = remove_unfinished_saves(ckpt_dir) if main else []
    if main:
        os.makedirs(ckpt_dir, exist_ok=True)
        write_config(config, os.path.join(ckpt_dir, "options.json"))
    logger = RunLogger(log_dir, enabled=main)
    if main:
        write_config(config, os.path.join(log_dir, f"options_{time.strftime('%Y%m%d-%H%M%S')}.json"))
    processes = (f" x {sync.world_size} processes ({config['batch_size'] // sync.world_size} clips each of "
                 f"the global batch {config['batch_size']})" if sync else "")
    logger.line(f"{'resuming' if config['resume'] else 'starting'} {config['exp_name']} at iteration {iteration} "
                f"on {device}{processes}: {len(train_set)} training clips, {len(test_set)} test clips, "
                f"{num_categories} classes")
    if config.get("host_memory", "retain") == "retain" and not retained:
        logger.line("--host_memory retain: " + ("not applied under torchrun" if sync is not None else "not glibc")
                    + ", malloc's own settings are kept")
    curve = LearningCurve(log_dir, num_categories, iteration, logger.line) if main else None
    if unfinished:
        logger.line(f"removed {len(unfinished)} unfinished checkpoint file(s) of an interrupted save: "
                    + ", ".join(unfinished))
    nonfinite_run = []          # (iteration, task, cause) of the current run of consecutive non-finite steps
    latest_at = None            # iteration at which this process last wrote `latest`
    averaged_at = None          # iteration at which the ranks last averaged their BatchNorm statistics

    def average_statistics():
        # torchrun: every rank's BatchNorm running statistics (of its own shards) -> their mean, so
        # that validation and checkpoints see all shards and the ranks leave the save point equal
        nonlocal averaged_at
        if sync is not None and averaged_at != iteration:
            sync.average_buffers(nets)
            averaged_at = iteration

    def save(name):
        # under torchrun a collective: every rank calls it at the same iterations; rank 0 writes
        nonlocal last_good, latest_at
        rng_ranks, finite = None, None
        if sync is not None:
            average_statistics()
            window.average_over_ranks(sync)
            rng_ranks = sync.gather_objects(capture_rng_state())
            finite = sync.all_finite(weights_are_finite(nets))
        if nonfinite_run or not (weights_are_finite(nets) if finite is None else finite):
            reason = (f"the last {len(nonfinite_run)} step(s) had non-finite losses" if nonfinite_run
                      else "non-finite weights")
            logger.line(f"not saving {name} at iteration {iteration}: {reason}")
            return
        path = checkpoint_path(ckpt_dir, name)
        if main:
            save_checkpoint(path, checkpoint_state(config, nets, optimizers, iteration, counters, stream,
                                                   train_set.classes, window, rng_ranks))
        last_good = (path, iteration)
        if name == "latest":
            latest_at = iteration

    def agreed(flag):
        # torchrun: True on every rank when it is True on some rank (one tiny all_reduce)
        return flag if sync is None else sync.any(flag)

    progress = tqdm(total=config["total_iters"], initial=iteration, desc=config["exp_name"], dynamic_ncols=True,
                    disable=not main)
    stopped = False
    with _StopRequest() as stop:
        while iteration < config["total_iters"]:
            if agreed(stop.requested):
                stopped = True
                break
            try:
                item = stream.next()
            except Exception:
                if not stop.requested:
                    raise
                item = None  # e.g. DataLoader workers ended by the same Ctrl-C
            if agreed(item is None):
                if item is not None:   # another rank stopped: this batch is not used
                    stream.position -= 1
                stopped = True
                break
            iteration += 1
            batch = Batch.from_loader(item, num_categories, device)
            task = schedules.task(iteration, random)
            losses, visuals, updated = train_step(task, nets, groups, optimizers, batch,
                                                  step_values(config, schedules, iteration), random, sync=sync,
                                                  amp=config.get("amp", "off"), grad_clip=config.get("grad_clip", 0.0))
            counters[task] += 1
            window.add(task, losses.scalars)
            if updated is None:
                counters["nonfinite_skipped"] += 1
                cause = nonfinite_cause(task, batch.images, nets, losses, visuals)
                nonfinite_run.append((iteration, task, cause))
                logger.line(f"iteration {iteration}: non-finite {task} loss, step skipped "
                            f"({len(nonfinite_run)} in a row): {cause}")
                if config["max_nonfinite"] and len(nonfinite_run) >= config["max_nonfinite"]:
                    progress.close()
                    message = nonfinite_message(nonfinite_run, last_good)
                    logger.line(message)
                    logger.close()
                    if sync is not None:   # the others leave after rank 0 has logged the reason
                        sync.barrier()
                    raise TrainingAborted(message)
            else:
                nonfinite_run.clear()
            progress.update(1)
            if iteration % config["print_freq"] == 0:
                window.average_over_ranks(sync)   # torchrun: the logged means are those of the global batch
                log_window(logger, window, counters, iteration, config["total_iters"], task, visuals)
            del losses, visuals
            if iteration % config["val_freq"] == 0:
                average_statistics()
                if main:   # torchrun: rank 0 validates, the others wait
                    validate(config, nets, test_set, device, iteration, schedules, logger,
                             iteration < config["pretrain_iters"], curve)
                if sync is not None:
                    sync.barrier()
                save("latest")
            if iteration % config["save_freq"] == 0:
                save(iteration)
                if config["keep_checkpoints"] and main:
                    prune_checkpoints(ckpt_dir, config["keep_checkpoints"])
        progress.close()
        stopped = stopped or stop.requested
        if stopped:
            logger.line(f"{stop.signal_name or 'a stop signal to another process'} received: "
                        f"stopping at iteration {iteration}")
        if latest_at != iteration:
            save("latest")
        where = f"checkpoint {last_good[0]} (iteration {last_good[1]})" if last_good else "no checkpoint saved"
        logger.line(f"{'stopped' if stopped else 'finished'} at iteration {iteration}; {where}; "
                    f"TensorBoard run {log_dir}")
        if curve is not None:
            logger.line(f"learning curve: {curve.image_path}" if os.path.isfile(curve.image_path) else
                        f"learning curve: none yet (no validation; --val_freq {config['val_freq']})")
    logger.close()
    return iteration


def nonfinite_message(nonfinite_run, last_good):
    """The one-line reason for stopping after a run of non-finite steps `[(iteration, task, cause)]`:
    the iterations, tasks, the likely cause measured at the first of them, the last good checkpoint."""
    first, last = nonfinite_run[0][0], nonfinite_run[-1][0]
    tasks = ", ".join(sorted({entry[1] for entry in nonfinite_run}, key=TASKS.index))
    cause = nonfinite_run[0][2]
    where = (f"the last good checkpoint is {last_good[0]} (iteration {last_good[1]})" if last_good
             else "no checkpoint was saved")
    return (f"{len(nonfinite_run)} consecutive non-finite losses (iterations {first}-{last}, {tasks}; at "
            f"iteration {first}: {cause}): stopped without saving; {where} (--max_nonfinite 0 never stops)")
