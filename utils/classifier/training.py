"""Training loop of the evaluation classifier (EVAL.md): Adam, per-epoch lr decay, validation, checkpoints, resume.

One batch per iteration from an EpochBatchStream (a permutation per epoch, full
batches). The lr is multiplied by `lr_decay` right after the step on an epoch's
last batch. Every `val_freq` iterations (and at the end): accuracy (folded to the
action), IS and entropies on the whole test split; `<iteration>.pth`, `best.pth`
when accuracy and IS are both at least their best so far, and `latest.pth` (the
full training state: model, optimiser, lr scheduler, iteration, RNG states, data
position, best so far) are written. The actor×action kind uses the label offset
in training and validation alike.
"""
import os
import time

import torch

from datasets import build_dataset, dataset_options
from utils.core.checkpoint import CheckpointError, checkpoint_path, list_checkpoints, load_checkpoint, \
    prune_checkpoints, save_checkpoint
from utils.classifier.options import ADAM_BETAS
from utils.core.config import write_config
from utils.core.data_stream import EpochBatchStream
from utils.core.logger import RunLogger
from utils.core.rng import capture_rng_state, restore_rng_state, seed_everything
from utils.evaluation.classifier_scoring import build_classifier, class_targets, classifier_info, score_dataset

# Options a resumed run must share with the checkpoint it continues (RESUME_DEFAULTS: the value of an
# option that checkpoints written before it existed were trained with).
RESUME_OPTIONS = ("dataset", "ndf", "model_is_actor", "n_channels", "video_length", "every_nth", "image_size",
                  "batch_size", "lr", "lr_decay", "weight_decay", "seed", "split_rule", "test_every",
                  "shift_augment")
RESUME_DEFAULTS = {"shift_augment": 0}


def classifier_split(config, split, info=None):
    """The configured dataset's `split`: 'train' with the random crop and start, 'test' centred from frame 0.

    Clip options come from `info` (a trained classifier's) when given, else from `config`.
    """
    source = info or config
    accepted = dataset_options(config["dataset"])
    extra = {k: config[k] for k in ("split_rule", "test_every") if k in accepted and config.get(k) is not None}
    return build_dataset(config["dataset"], config["dataroot"], split, video_length=source["video_length"],
                         every_nth=source["every_nth"], image_size=source["image_size"], crop=split == "train",
                         textroot=config.get("textroot"), **extra)


def make_optimizer(model, config):
    """Adam with betas (0.5, 0.999), `config['lr']` and `config['weight_decay']`, and its per-epoch
    ExponentialLR(`config['lr_decay']`). Returns `(optimizer, scheduler)`."""
    optimizer = torch.optim.Adam(model.parameters(), lr=config["lr"], betas=ADAM_BETAS,
                                 weight_decay=config["weight_decay"])
    return optimizer, torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=config["lr_decay"])


def shift_clips(videos, shifts):
    """Translate each clip of `videos [B, C, T, H, W]` by its `shifts [B, 2]` integer (dx, dy) px (x right,
    y down; every frame alike), edges replicated; returns a tensor of the same shape."""
    b, _, _, h, w = videos.shape
    pad = int(shifts.abs().max()) if b else 0
    if pad == 0:
        return videos
    padded = torch.nn.functional.pad(videos, (pad, pad, pad, pad, 0, 0), mode="replicate")
    rows = [padded[i, :, :, pad - dy:pad - dy + h, pad - dx:pad - dx + w]
            for i, (dx, dy) in enumerate(shifts.tolist())]
    return torch.stack(rows)


def random_shifts(batch_size, max_shift):
    """`[batch_size, 2]` integer (dx, dy), each uniform in [-max_shift, max_shift] (torch's global RNG)."""
    return torch.randint(-max_shift, max_shift + 1, (batch_size, 2))


def train_step(model, optimizer, batch, info, device, shift_augment=0):
    """One update on a collated batch (`video [B, C, T, H, W]`, `label [B]`, `actor [B]`), with the
    actor×action offset when `info['model_is_actor']` and, with `shift_augment` PX > 0, every clip
    translated by a random (dx, dy) in [-PX, PX] (`shift_clips`). Returns `(loss, accuracy in % folded
    to the action)`."""
    videos = batch["video"]
    if shift_augment:
        videos = shift_clips(videos, random_shifts(videos.shape[0], shift_augment))
    videos = videos.to(device)
    targets = class_targets(batch["label"], batch["actor"], info["n_actions"], info["model_is_actor"]).to(device)
    logits = model(videos)
    loss = torch.nn.functional.cross_entropy(logits, targets)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    folded = logits.detach().argmax(dim=1) % info["n_actions"]
    accuracy = 100.0 * float((folded == targets % info["n_actions"]).float().mean())
    return float(loss.detach()), accuracy


def is_best(metrics, best):
    """EVAL.md's rule: True when accuracy and IS are both at least the best so far (`best` dict, 0 at start)."""
    return metrics["acc"] >= best["acc"] and metrics["I_score"] >= best["I_score"]


def validate(model, test_set, info, config):
    """Score the whole test split in eval mode, leaving the RNG states and the train mode untouched.
    Returns the metrics dict of `score_dataset` plus `clips`."""
    rng = capture_rng_state()
    try:
        metrics, clips = score_dataset(model, test_set, info, config["batch_size"], config["num_workers"])
    finally:
        model.train()
        restore_rng_state(rng)
    return dict(metrics, clips=clips)


def _model_state(model, info, config, iteration, metrics):
    """The part of a checkpoint the evaluation needs: model, classifier info, iteration, metrics, options."""
    return {"model": model.state_dict(), "classifier": info, "iteration": iteration, "metrics": metrics,
            "config": dict(config)}


def resume_path(config):
    """Path of this run's `latest.pth`; CheckpointError (listing what exists) when there is none."""
    path = checkpoint_path(config["checkpoint_dir_run"], "latest")
    if not os.path.isfile(path):
        raise CheckpointError(f"--resume: no latest checkpoint in {config['checkpoint_dir_run']} (available: "
                              f"{', '.join(list_checkpoints(config['checkpoint_dir_run'])) or 'none'})")
    return path


def _resume(config, info, model, optimizer, scheduler, stream):
    """Load `latest` of this run into the model, optimiser, scheduler, data stream and RNGs.
    Returns `(iteration, best)`; CheckpointError when there is nothing to resume or it does not fit."""
    path = resume_path(config)
    state = load_checkpoint(path)
    if any(k not in state for k in ("optimizer", "scheduler", "rng", "data", "best", "config", "classifier")):
        raise CheckpointError(f"--resume: {path} is not a classifier training checkpoint")
    trained = dict(RESUME_DEFAULTS, **state["config"])
    differing = [k for k in RESUME_OPTIONS if trained.get(k) != config.get(k)]
    if differing:
        raise CheckpointError(f"--resume: {path} was trained with different options: " + ", ".join(
            f"--{k} {trained.get(k)!r} (now {config.get(k)!r})" for k in differing))
    for key in ("classes", "actors"):
        if list(state["classifier"][key]) != list(info[key]):
            raise CheckpointError(f"--resume: {path} was trained on the {key} {state['classifier'][key]}; "
                                  f"the data in {config['dataroot']} has {info[key]}")
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    stream.load_state_dict(state["data"])
    restore_rng_state(state["rng"])
    return int(state["iteration"]), dict(state["best"])


def train_classifier(config, train_set, test_set, device):
    """Train (or, with `--resume`, continue) the classifier of `config` on `train_set`, validating on
    `test_set`; writes checkpoints, options.json, the text log and TensorBoard scalars.
    Returns the best-so-far dict `{'acc', 'I_score', 'iteration'}`."""
    info = classifier_info(config, train_set.classes, train_set.actors)
    seed_everything(config["seed"])
    model = build_classifier(info).to(device)
    optimizer, scheduler = make_optimizer(model, config)
    stream = EpochBatchStream(train_set, config["batch_size"], config["seed"], config["num_workers"])
    iteration, best = 0, {"acc": 0.0, "I_score": 0.0, "iteration": None}
    if config["resume"]:
        iteration, best = _resume(config, info, model, optimizer, scheduler, stream)
    directory = config["checkpoint_dir_run"]
    os.makedirs(directory, exist_ok=True)
    write_config(config, os.path.join(directory, "options.json"))
    logger = RunLogger(config["log_dir_run"])
    kind = f"actor x action ({info['num_classes']} classes)" if info["model_is_actor"] else \
        f"action ({info['num_classes']} classes)"
    logger.line(f"{'resuming at' if iteration else 'starting'} iteration {iteration}: {kind} classifier, "
                f"{len(train_set)} train / {len(test_set)} test clips, {stream.batches_per_epoch} batches per epoch, "
                f"lr {optimizer.param_groups[0]['lr']:.4g}")
    model.train()
    sums, started = [0.0, 0.0, 0], time.time()
    try:
        while iteration < config["total_iters"]:
            batch = stream.next()
            loss, accuracy = train_step(model, optimizer, batch, info, device, config.get("shift_augment", 0))
            iteration += 1
            if stream.position == stream.batches_per_epoch:  # the epoch's last batch was drawn
                scheduler.step()
            sums = [sums[0] + loss, sums[1] + accuracy, sums[2] + 1]
            if iteration % config["print_freq"] == 0:
                values = {"loss": sums[0] / sums[2], "acc": sums[1] / sums[2],
                          "lr": optimizer.param_groups[0]["lr"], "seconds_per_iter": (time.time() - started) / sums[2]}
                logger.scalars("train", values, iteration)
                logger.line(f"iter {iteration} epoch {stream.epoch}: " + " ".join(f"{k}={v:.4g}" for k, v in values.items()))
                sums, started = [0.0, 0.0, 0], time.time()
            if iteration % config["val_freq"] == 0 or iteration == config["total_iters"]:
                metrics = dict(validate(model, test_set, info, config), lr=optimizer.param_groups[0]["lr"])
                logger.scalars("val", {k: v for k, v in metrics.items() if k != "clips"}, iteration)
                improved = is_best(metrics, best)
                model_state = _model_state(model, info, config, iteration, metrics)
                save_checkpoint(checkpoint_path(directory, iteration), model_state)
                if improved:
                    best = {"acc": metrics["acc"], "I_score": metrics["I_score"], "iteration": iteration}
                    save_checkpoint(checkpoint_path(directory, "best"), model_state)
                save_checkpoint(checkpoint_path(directory, "latest"), dict(
                    model_state, optimizer=optimizer.state_dict(), scheduler=scheduler.state_dict(),
                    rng=capture_rng_state(), data=stream.state_dict(), best=best))
                if config["keep_checkpoints"]:
                    prune_checkpoints(directory, config["keep_checkpoints"])
                logger.line(f"val {iteration}: " + " ".join(f"{k}={v:.4g}" for k, v in metrics.items())
                            + (" (new best)" if improved else "")
                            + f" | best: acc={best['acc']:.4g} I_score={best['I_score']:.4g} at {best['iteration']}")
    finally:
        logger.close()
    return best
