"""Using a trained evaluation classifier: rebuild it from its checkpoint, classify videos, score a dataset.

A classifier checkpoint holds `model` (the VideoClassifier's state) and
`classifier`, the information needed to rebuild and use it without the
command line: dataset, classes, actors, n_actions, model_is_actor,
num_classes, ndf, n_channels, video_length, every_nth, image_size, and the
folder split (`split_rule`, `test_every`; None: the loader's default).
With `model_is_actor` the classes are `action + actor · n_actions`.
"""
import os

import numpy as np
import torch
from torch.utils.data import DataLoader

from models.classifier import VideoClassifier
from utils.core.checkpoint import CheckpointError, checkpoint_path, list_checkpoints, load_checkpoint
from utils.evaluation.metrics import score_predictions

INFO_KEYS = ("dataset", "classes", "actors", "n_actions", "model_is_actor", "num_classes", "ndf", "n_channels",
             "video_length", "every_nth", "image_size")


def classifier_info(config, classes, actors):
    """Take the training config and the dataset's class and actor names; return the classifier's info dict."""
    n_actions = len(classes)
    actors = list(actors) if config["model_is_actor"] else []
    return {"dataset": config["dataset"], "classes": list(classes), "actors": actors, "n_actions": n_actions,
            "model_is_actor": bool(config["model_is_actor"]),
            "num_classes": n_actions * len(actors) if config["model_is_actor"] else n_actions,
            "ndf": config["ndf"], "n_channels": config["n_channels"], "video_length": config["video_length"],
            "every_nth": config["every_nth"], "image_size": config["image_size"],
            "split_rule": config.get("split_rule"), "test_every": config.get("test_every")}


def build_classifier(info):
    """Take an info dict; return a freshly initialised VideoClassifier (Xavier, BatchNorm3d U(0, 1))."""
    return VideoClassifier(n_channels=info["n_channels"], num_classes=info["num_classes"], ndf=info["ndf"])


def class_targets(labels, actors, n_actions, model_is_actor):
    """Training targets: `labels [B]` (actions) as they are, or `action + actor · n_actions` for the
    actor×action kind (`actors [B]`, all >= 0). Returns a long tensor `[B]`."""
    labels = torch.as_tensor(labels).long()
    if not model_is_actor:
        return labels
    actors = torch.as_tensor(actors).long()
    if bool((actors < 0).any()):
        raise ValueError("the actor x action classifier needs every clip's actor (got actor -1)")
    return labels + actors * n_actions


def load_classifier(path, device="cpu"):
    """Load a classifier checkpoint (weights_only). Returns `(model in eval mode on device, info)`;
    info also has `iteration` and `path`. CheckpointError (one line) for a file that is no classifier."""
    state = load_checkpoint(path, map_location="cpu")
    info = state.get("classifier")
    if "model" not in state or not isinstance(info, dict) or any(k not in info for k in INFO_KEYS):
        raise CheckpointError(f"{path} is not an evaluation-classifier checkpoint "
                              "(written by python -m utils.classifier.train)")
    model = build_classifier(info)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as error:
        raise CheckpointError(f"{path} does not match the classifier it describes: "
                              f"{str(error).strip().splitlines()[0][:300]}") from None
    info = dict(info, iteration=int(state.get("iteration", -1)), path=str(path))
    return model.to(device).eval(), info


@torch.no_grad()
def classify_videos(model, videos, batch=32):
    """Run a classifier in eval mode on `videos [N, C, T, H, W]` (tensor or array, in [-1, 1]) in batches.

    Returns `(probs [N, K] float64 numpy softmax outputs, features [N, F] float32
    numpy penultimate features, i.e. model.features)`. The model's train/eval mode
    is restored afterwards.
    """
    videos = torch.as_tensor(videos)
    device = next(model.parameters()).device
    captured = []
    hook = model.body.register_forward_hook(lambda module, inputs, output: captured.append(output.flatten(1)))
    was_training = model.training
    model.eval()
    probs, features = [], []
    try:
        for start in range(0, videos.shape[0], batch):
            logits = model(videos[start:start + batch].to(device=device, dtype=torch.float32))
            probs.append(torch.softmax(logits.double(), dim=1).cpu().numpy())
            features.append(captured.pop().float().cpu().numpy())
    finally:
        hook.remove()
        model.train(was_training)
    if not probs:
        raise ValueError("classify_videos got no videos")
    return np.concatenate(probs), np.concatenate(features)


CLIP_TRANSFORMS = ("none", "reversed", "static")


def transform_clips(videos, transform):
    """`videos [B, C, T, H, W]` as they are ('none'), in reverse frame order ('reversed': each moves the
    other way), or as their first frame repeated T times ('static': no motion at all); same shape."""
    if transform == "none":
        return videos
    if transform == "reversed":
        return videos.flip(2)
    if transform == "static":
        return videos[:, :, :1].expand_as(videos).contiguous()
    raise ValueError(f"unknown clip transform {transform!r} (expected one of {', '.join(CLIP_TRANSFORMS)})")


def predict_dataset(model, dataset, info, batch_size=32, num_workers=0, transform="none"):
    """Classify every clip of `dataset` in order (last partial batch kept), after `transform_clips`.
    Returns a dict of numpy arrays: `probs [N, K]`, `features [N, F]`, `labels [N]` (actions),
    `targets [N]` (the classes trained on)."""
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, drop_last=False, num_workers=num_workers)
    probs, features, labels, targets = [], [], [], []
    for batch in loader:
        p, f = classify_videos(model, transform_clips(batch["video"], transform), batch_size)
        probs.append(p)
        features.append(f)
        labels.append(batch["label"].numpy())
        targets.append(class_targets(batch["label"], batch["actor"], info["n_actions"],
                                     info["model_is_actor"]).numpy())
    return {"probs": np.concatenate(probs), "features": np.concatenate(features),
            "labels": np.concatenate(labels), "targets": np.concatenate(targets)}


def score_outputs(probs, labels, targets, info):
    """Metrics of classifier outputs on real clips: EVAL.md's (`acc` folded to the action, `I_score`,
    `intra_E`, `inter_E`, `class_intra_E`), `loss` (cross-entropy against `targets`, the trained
    classes) and, for the actor×action kind, `acc_actor_action` (exact class, in %). Returns floats."""
    metrics = score_predictions(probs, labels, info["n_actions"])
    picked = probs[np.arange(len(targets)), targets]
    metrics["loss"] = float(-np.log(np.maximum(picked, 1e-300)).mean())
    if info["model_is_actor"]:
        metrics["acc_actor_action"] = 100.0 * float(np.mean(probs.argmax(axis=1) == targets))
    return metrics


def score_dataset(model, dataset, info, batch_size=32, num_workers=0, transform="none"):
    """Classify every clip of `dataset` (after `transform_clips`) and return `(metrics dict, number of
    clips)` (see score_outputs)."""
    out = predict_dataset(model, dataset, info, batch_size, num_workers, transform)
    return score_outputs(out["probs"], out["labels"], out["targets"], info), len(out["labels"])


def resolve_classifier_path(spec, which, checkpoint_dir):
    """Checkpoint file named by `--classifier`: a file as it is; a run folder or an exp_name under
    `checkpoint_dir` with `<which>.pth` in it. Returns the path; CheckpointError (one line) otherwise."""
    if os.path.isfile(spec):
        return spec
    directory = spec if os.path.isdir(spec) else os.path.join(checkpoint_dir, spec)
    if not os.path.isdir(directory):
        raise CheckpointError(f"--classifier {spec}: no such checkpoint file, run folder, or experiment "
                              f"in {checkpoint_dir}")
    available = list_checkpoints(directory)
    if str(which) not in available:
        raise CheckpointError(f"--classifier {spec}: no checkpoint {which!r} in {directory} "
                              f"(available: {', '.join(available) or 'none'})")
    return checkpoint_path(directory, which)
