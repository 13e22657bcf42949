"""The evaluation classifier's training and evaluation commands (utils.classifier.train, utils.classifier.eval)."""
import copy
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from conftest import REPO_ROOT
from datasets import synthetic
from models.classifier import VideoClassifier
from utils.classifier.options import OptionError, parse_classifier_train_options
from utils.core.checkpoint import CheckpointError, checkpoint_path, list_checkpoints, load_checkpoint, save_checkpoint
from utils.evaluation.classifier_scoring import (CLIP_TRANSFORMS, class_targets, classify_videos, load_classifier, predict_dataset,
                                      score_dataset, score_outputs, transform_clips)
from utils.classifier.eval import main as eval_main
from utils.classifier.train import main as train_main
from utils.classifier.training import is_best, make_optimizer, random_shifts, shift_clips, train_step


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory):
    """Synthetic data, 5 videos per class of 12 frames: 16 train and 4 test clips (4 batches of 4 per epoch)."""
    root = tmp_path_factory.mktemp("tiny") / "data"
    synthetic.generate(str(root), seed=0, videos_per_class=5, n_frames=12)
    return str(root)


def run_args(root, out, *extra):
    """Command line of a small, fast classifier run on `root` writing under `out`."""
    return ["--dataset", "synthetic", "--dataroot", root, "--ndf", "2", "--batch_size", "4", "--threads", "1",
            "--checkpoint_dir", str(out / "ck"), "--log_dir", str(out / "log"), *extra]


def numbered_metrics(directory):
    """Metrics stored in each numbered checkpoint of `directory`; dict iteration -> metrics."""
    return {int(n): load_checkpoint(checkpoint_path(directory, n))["metrics"]
            for n in list_checkpoints(directory) if n.isdigit()}


@pytest.mark.parametrize("model_is_actor, base, decay", [(False, 5e-4, 0.995), (True, 1e-4, 0.999)])
def test_lr_decays_after_each_epoch_and_best_follows_the_rule(tiny_root, tmp_path, model_is_actor, base, decay):
    extra = ["--total_iters", "10", "--val_freq", "1"] + (["--model_is_actor"] if model_is_actor else [])
    train_main(run_args(tiny_root, tmp_path, *extra))
    directory = str(tmp_path / "ck" / ("synthetic_actor" if model_is_actor else "synthetic"))
    metrics = numbered_metrics(directory)
    assert sorted(metrics) == list(range(1, 11))
    for iteration, values in metrics.items():  # 4 batches per epoch: decayed after iterations 4 and 8
        assert values["lr"] == pytest.approx(base * decay ** (iteration // 4), rel=1e-12)
    best_acc, best_is, best_iter = 0.0, 0.0, None
    for iteration in sorted(metrics):  # EVAL.md: accuracy and IS both at least their best so far
        if metrics[iteration]["acc"] >= best_acc and metrics[iteration]["I_score"] >= best_is:
            best_acc, best_is, best_iter = metrics[iteration]["acc"], metrics[iteration]["I_score"], iteration
    best = load_checkpoint(checkpoint_path(directory, "best"))
    latest = load_checkpoint(checkpoint_path(directory, "latest"))
    assert best["iteration"] == best_iter and latest["best"]["iteration"] == best_iter
    assert latest["iteration"] == 10 and latest["scheduler"]["last_epoch"] == 2
    info = best["classifier"]
    assert info["model_is_actor"] == model_is_actor and info["n_actions"] == 4 and info["classes"] == synthetic.CLASSES
    assert info["num_classes"] == (24 if model_is_actor else 4) and info["actors"] == (
        synthetic.ACTOR_NAMES if model_is_actor else [])
    assert (info["ndf"], info["video_length"], info["every_nth"], info["image_size"]) == (2, 10, 1, 64)
    assert os.path.isfile(os.path.join(directory, "options.json"))
    assert os.path.isfile(tmp_path / "log" / os.path.basename(directory) / "log.txt")


def test_is_best_needs_both_accuracy_and_inception_score():
    best = {"acc": 50.0, "I_score": 2.0}
    assert is_best({"acc": 50.0, "I_score": 2.0}, best)
    assert not is_best({"acc": 60.0, "I_score": 1.9}, best)
    assert not is_best({"acc": 49.0, "I_score": 3.0}, best)


@pytest.mark.parametrize("model_is_actor", [False, True])
def test_training_step_uses_the_actor_label_offset(model_is_actor):
    n_actions, n_actors = 3, 2
    torch.manual_seed(0)
    model = VideoClassifier(num_classes=n_actions * (n_actors if model_is_actor else 1), ndf=2)
    reference = copy.deepcopy(model)
    config = {"lr": 1e-3, "lr_decay": 0.9, "weight_decay": 1e-5}
    optimizer, _ = make_optimizer(model, config)
    ref_optimizer, _ = make_optimizer(reference, config)
    batch = {"video": torch.rand(4, 3, 10, 64, 64) * 2 - 1, "label": torch.tensor([0, 1, 2, 1]),
             "actor": torch.tensor([1, 0, 1, 1])}
    expected_targets = torch.tensor([3, 1, 5, 4]) if model_is_actor else batch["label"]
    info = {"n_actions": n_actions, "model_is_actor": model_is_actor}
    loss, accuracy = train_step(model, optimizer, batch, info, torch.device("cpu"))
    logits = reference(batch["video"])
    expected = F.cross_entropy(logits, expected_targets)
    ref_optimizer.zero_grad()
    expected.backward()
    ref_optimizer.step()
    assert loss == pytest.approx(float(expected.detach()), rel=1e-5)
    folded = (logits.argmax(1) % n_actions == batch["label"]).float().mean() * 100
    assert accuracy == pytest.approx(float(folded))
    for p, q in zip(model.parameters(), reference.parameters()):
        assert torch.allclose(p, q, atol=1e-6)


def test_class_targets_offset_and_missing_actor():
    labels, actors = torch.tensor([0, 3, 2]), torch.tensor([2, 0, 1])
    assert class_targets(labels, actors, 4, False).tolist() == [0, 3, 2]
    assert class_targets(labels, actors, 4, True).tolist() == [8, 3, 6]
    with pytest.raises(ValueError, match="actor"):
        class_targets(labels, torch.tensor([0, -1, 0]), 4, True)


class ClassInFirstPixel(nn.Module):
    """Stub classifier: the logits put 20 on the class written in the first value of each video."""

    def __init__(self, num_classes):
        super().__init__()
        self.num_classes, self.body, self.unused = num_classes, nn.Identity(), nn.Parameter(torch.zeros(1))

    def forward(self, video):
        chosen = self.body(video).flatten(1)[:, 0].round().long()
        return 20.0 * F.one_hot(chosen, self.num_classes).float()


def test_validation_uses_the_offset_and_folds_predictions():
    n_actions, n_actors = 2, 3
    labels, actors = [0, 1, 1, 0, 1, 0], [2, 0, 1, 1, 2, 0]
    predicted = [4, 1, 5, 3, 2, 0]  # classes: right/right actor, right, right action & wrong actor, wrong, ...
    items = [{"video": torch.full((1, 2, 2, 2), float(c)), "label": l, "actor": a, "name": str(i)}
             for i, (c, l, a) in enumerate(zip(predicted, labels, actors))]
    info = {"n_actions": n_actions, "model_is_actor": True}
    out = predict_dataset(ClassInFirstPixel(n_actions * n_actors), items, info, batch_size=4)
    targets = [l + a * n_actions for l, a in zip(labels, actors)]
    assert out["targets"].tolist() == targets and out["labels"].tolist() == labels
    metrics = score_outputs(out["probs"], out["labels"], out["targets"], info)
    folded = [c % n_actions for c in predicted]
    assert metrics["acc"] == pytest.approx(100 * np.mean(np.array(folded) == labels))        # 4 of 6
    assert metrics["acc_actor_action"] == pytest.approx(100 * np.mean(np.array(predicted) == targets))  # 2 of 6
    log_p = np.log(out["probs"][np.arange(6), targets])
    assert metrics["loss"] == pytest.approx(-log_p.mean())


def test_classify_videos_gives_probabilities_and_penultimate_features():
    model = VideoClassifier(num_classes=5, ndf=2).train()
    videos = torch.rand(3, 3, 10, 64, 64) * 2 - 1
    probs, features = classify_videos(model, videos, batch=2)
    assert model.training  # mode restored
    assert probs.shape == (3, 5) and features.shape == (3, 8 * 2 * 2 * 4 * 4)
    assert np.allclose(probs.sum(1), 1.0)
    model.eval()
    with torch.no_grad():
        assert np.allclose(features, model.features(videos).numpy(), atol=1e-6)
        assert np.allclose(probs, torch.softmax(model(videos), 1).numpy(), atol=1e-6)


def test_load_classifier_round_trip_and_refuses_other_files(tiny_root, tmp_path):
    train_main(run_args(tiny_root, tmp_path, "--total_iters", "2", "--val_freq", "2"))
    path = str(tmp_path / "ck" / "synthetic" / "best.pth")
    model, info = load_classifier(path)
    assert not model.training and info["iteration"] == 2 and info["num_classes"] == 4
    state = load_checkpoint(path)
    assert all(torch.equal(v, state["model"][k]) for k, v in model.state_dict().items())
    save_checkpoint(str(tmp_path / "other.pth"), {"networks": {}})
    with pytest.raises(CheckpointError, match="not an evaluation-classifier checkpoint"):
        load_classifier(str(tmp_path / "other.pth"))


def test_resume_continues_exactly_as_an_uninterrupted_run(tiny_root, tmp_path):
    whole, split = tmp_path / "whole", tmp_path / "split"
    train_main(run_args(tiny_root, whole, "--total_iters", "10", "--val_freq", "4"))
    # stopped right after an epoch's last batch (4 batches per epoch), where the lr has just decayed
    train_main(run_args(tiny_root, split, "--total_iters", "8", "--val_freq", "4"))
    train_main(run_args(tiny_root, split, "--total_iters", "10", "--val_freq", "4", "--resume"))
    a = load_checkpoint(str(whole / "ck" / "synthetic" / "latest.pth"))
    b = load_checkpoint(str(split / "ck" / "synthetic" / "latest.pth"))
    assert a["iteration"] == b["iteration"] == 10 and a["data"] == b["data"]
    assert a["scheduler"] == b["scheduler"] and a["best"] == b["best"]
    for key, value in a["model"].items():
        assert torch.equal(value, b["model"][key]), key
    assert numbered_metrics(str(whole / "ck" / "synthetic")) == numbered_metrics(str(split / "ck" / "synthetic"))


def test_resume_and_restart_mistakes(tiny_root, tmp_path):
    with pytest.raises(CheckpointError, match="no latest checkpoint"):
        train_main(run_args(tiny_root, tmp_path, "--total_iters", "1", "--resume"))
    assert not os.path.exists(tmp_path / "ck") and not os.path.exists(tmp_path / "log")
    train_main(run_args(tiny_root, tmp_path, "--total_iters", "1"))
    with pytest.raises(OptionError, match="already holds checkpoints"):
        train_main(run_args(tiny_root, tmp_path, "--total_iters", "2"))
    with pytest.raises(CheckpointError, match="--ndf 2 .now 4"):
        train_main(run_args(tiny_root, tmp_path, "--total_iters", "2", "--resume", "--ndf", "4"))
    with pytest.raises(CheckpointError, match="--shift_augment 0 .now 8"):
        train_main(run_args(tiny_root, tmp_path, "--total_iters", "2", "--resume", "--shift_augment", "8"))
    # a checkpoint written before --shift_augment existed was trained without it (0)
    latest = str(tmp_path / "ck" / "synthetic" / "latest.pth")
    state = load_checkpoint(latest)
    del state["config"]["shift_augment"]
    save_checkpoint(latest, state)
    train_main(run_args(tiny_root, tmp_path, "--total_iters", "2", "--resume"))
    assert load_checkpoint(latest)["iteration"] == 2


def test_shift_clips_against_a_direct_loop():
    torch.manual_seed(0)
    videos = torch.randn(5, 3, 2, 9, 7)
    shifts = torch.tensor([[0, 0], [2, -1], [-3, 3], [6, 0], [0, -8]])                  # (dx, dy), beyond the edges too
    moved = shift_clips(videos, shifts)
    expected = torch.empty_like(videos)
    for i, (dx, dy) in enumerate(shifts.tolist()):
        for y in range(9):
            for x in range(7):   # out[y, x] = in[y - dy, x - dx], clamped to the frame (edges replicated)
                expected[i, :, :, y, x] = videos[i, :, :, min(max(y - dy, 0), 8), min(max(x - dx, 0), 6)]
    assert torch.equal(moved, expected)
    assert shift_clips(videos, torch.zeros(5, 2, dtype=torch.long)) is videos
    torch.manual_seed(1)
    drawn = random_shifts(4000, 3)
    assert drawn.shape == (4000, 2) and drawn.min() == -3 and drawn.max() == 3 and abs(float(drawn.float().mean())) < 0.1


def test_shift_augment_moves_the_training_clips_only(tiny_root, tmp_path, monkeypatch):
    seen = []
    original = shift_clips

    def spy(videos, shifts):
        seen.append(int(shifts.abs().max()))
        return original(videos, shifts)
    monkeypatch.setattr("utils.classifier.training.shift_clips", spy)
    train_main(run_args(tiny_root, tmp_path, "--total_iters", "8", "--val_freq", "4", "--shift_augment", "5"))
    assert len(seen) == 8 and max(seen) <= 5 and max(seen) > 0           # one call per training batch, none in validation
    assert load_checkpoint(str(tmp_path / "ck" / "synthetic" / "latest.pth"))["config"]["shift_augment"] == 5
    for bad in ("-1", "32"):
        with pytest.raises(OptionError, match=r"--shift_augment must be in 0\.\.31"):
            train_main(run_args(tiny_root, tmp_path / bad, "--total_iters", "1", "--shift_augment", bad))


def test_option_defaults_follow_the_kind(tiny_root, tmp_path):
    action = parse_classifier_train_options(["--dataset", "Weizmann", "--dataroot", tiny_root])
    actor = parse_classifier_train_options(["--dataset", "Weizmann", "--dataroot", tiny_root, "--model_is_actor"])
    assert (action["lr"], action["lr_decay"], action["exp_name"]) == (5e-4, 0.995, "Weizmann")
    assert (actor["lr"], actor["lr_decay"], actor["exp_name"]) == (1e-4, 0.999, "Weizmann_actor")
    assert (action["ndf"], action["batch_size"], action["weight_decay"], action["val_freq"],
            action["total_iters"]) == (64, 32, 1e-5, 100, 100000)
    with pytest.raises(OptionError, match="--split_rule is not an option of --dataset Weizmann"):
        parse_classifier_train_options(["--dataset", "Weizmann", "--dataroot", tiny_root, "--split_rule", "videos"])
    with pytest.raises(OptionError, match="--model_is_actor needs an actor label"):
        train_main(["--dataset", "folder", "--dataroot", tiny_root, "--split_rule", "folders", "--model_is_actor",
                    "--batch_size", "4", "--checkpoint_dir", str(tmp_path / "ck"), "--log_dir", str(tmp_path / "log")])


@pytest.fixture(scope="module")
def trained_demo(tmp_path_factory):
    """A small classifier (ndf 8) trained for 80 iterations on the default synthetic data (192 train / 48 test)."""
    out = tmp_path_factory.mktemp("trained")
    root = str(out / "data")
    synthetic.generate(root, seed=1)
    train_main(["--dataset", "synthetic", "--dataroot", root, "--ndf", "8", "--batch_size", "16", "--lr", "2e-3",
                "--total_iters", "80", "--val_freq", "40", "--print_freq", "40", "--threads", "2",
                "--checkpoint_dir", str(out / "ck"), "--log_dir", str(out / "log")])
    return root, out


@pytest.mark.slow  # about half a minute on 2 cores: the network needs ~100 steps to generalise
def test_classifier_learns_above_chance(trained_demo):
    root, out = trained_demo
    best = load_checkpoint(str(out / "ck" / "synthetic" / "best.pth"))
    assert best["metrics"]["clips"] == 48
    assert best["metrics"]["acc"] >= 50.0  # chance: 25 %; P(>= 24 of 48 right by chance) < 1e-3


@pytest.mark.slow
def test_eval_prints_and_appends_the_test_accuracy(trained_demo, capsys):
    root, out = trained_demo
    eval_main(["--dataset", "synthetic", "--dataroot", root, "--classifier", "synthetic", "--which", "best",
               "--checkpoint_dir", str(out / "ck"), "--threads", "1"])
    printed = capsys.readouterr().out.splitlines()
    best = load_checkpoint(str(out / "ck" / "synthetic" / "best.pth"))
    assert f"acc={best['metrics']['acc']:.4f}" in printed[0] and "split=test clips=48" in printed[0]
    with open(out / "ck" / "synthetic" / "results.txt") as handle:
        assert printed[0] in handle.read()
    # what it reads: the same clips reversed in time, then as their first frame repeated (lines say so)
    for transform in ("reversed", "static"):
        eval_main(["--dataset", "synthetic", "--dataroot", root, "--classifier", "synthetic", "--which", "best",
                   "--checkpoint_dir", str(out / "ck"), "--threads", "1", "--clip_transform", transform])
        line = capsys.readouterr().out.splitlines()[0]
        assert f"split=test clip_transform={transform} clips=48 acc=" in line
        with open(out / "ck" / "synthetic" / "results.txt") as handle:
            assert handle.read().splitlines()[-1].endswith(line)


def command(module, *args, env=None):
    """Run `python -m module args...` from the repository root; returns the CompletedProcess."""
    environment = dict(os.environ, OMP_NUM_THREADS="1", **(env or {}))
    environment.pop("DATAROOT", None)
    return subprocess.run([sys.executable, "-m", module, *args], cwd=str(REPO_ROOT), env=environment,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_commands_end_to_end(trained_demo, tmp_path):
    root, out = trained_demo
    result = command("utils.classifier.eval", "--dataset", "synthetic", "--dataroot", root,
                     "--classifier", str(out / "ck" / "synthetic"), "--which", "latest",
                     "--results_file", str(tmp_path / "r.txt"))
    assert result.returncode == 0, result.stderr
    assert "split=test clips=48 acc=" in result.stdout and (tmp_path / "r.txt").is_file()


@pytest.mark.slow
@pytest.mark.parametrize("module, args, message", [
    ("utils.classifier.train", ["--dataset", "folder", "--dataroot", "{tmp}/missing"], "does not exist"),
    ("utils.classifier.train", ["--dataset", "synthetic", "--dataroot", "{tmp}/missing"], "no synthetic data"),
    ("utils.classifier.train", ["--dataset", "synthetic"], "--dataroot is required"),
    ("utils.classifier.train", ["--dataset", "Kinetics", "--dataroot", "{tmp}"], "unknown dataset 'Kinetics'"),
    ("utils.classifier.eval", ["--dataset", "synthetic", "--dataroot", "{tmp}", "--classifier", "{tmp}/none.pth"],
     "no such checkpoint file"),
    ("utils.classifier.eval", ["--dataset", "synthetic", "--dataroot", "{tmp}", "--classifier", "{tmp}",
                               "--which", "7"], "no checkpoint '7'"),
])
def test_user_mistakes_are_one_line(tmp_path, module, args, message):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    result = command(module, *args, "--checkpoint_dir", str(tmp_path / "ck"),
                     *(["--log_dir", str(tmp_path / "log")] if module == "utils.classifier.train" else []))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"python -m {module}: error:") and message in lines[0], lines
    assert sorted(os.listdir(tmp_path)) == []


class MotionSign(nn.Module):
    """Stub motion reader: class 0 when the first value grows from the first to the last frame, else 1."""

    def __init__(self):
        super().__init__()
        self.body, self.unused = nn.Identity(), nn.Parameter(torch.zeros(1))

    def forward(self, video):
        first = self.body(video)[:, 0, :, 0, 0]                                          # [B, T]
        return 20.0 * F.one_hot((first[:, -1] <= first[:, 0]).long(), 2).float()


def test_clip_transforms_show_what_a_classifier_reads():
    ramp = torch.linspace(-1, 1, 6)
    items = [{"video": (ramp if label == 0 else -ramp).view(1, 6, 1, 1).expand(2, 6, 3, 3).clone(),
              "label": label, "actor": 0, "name": str(i)} for i, label in enumerate([0, 1, 1, 0, 1])]
    videos = torch.stack([item["video"] for item in items])
    assert torch.equal(transform_clips(videos, "none"), videos)
    assert torch.equal(transform_clips(videos, "reversed"), videos[:, :, [5, 4, 3, 2, 1, 0]])
    static = transform_clips(videos, "static")
    assert static.shape == videos.shape and torch.equal(static, videos[:, :, :1].repeat(1, 1, 6, 1, 1))
    info = {"n_actions": 2, "model_is_actor": False}
    accuracy = {t: score_dataset(MotionSign(), items, info, batch_size=2, transform=t)[0]["acc"]
                for t in CLIP_TRANSFORMS}
    assert accuracy == {"none": 100.0, "reversed": 0.0, "static": pytest.approx(60.0)}   # static: class 1 for all
    with pytest.raises(ValueError, match="unknown clip transform 'mirrored'"):
        transform_clips(videos, "mirrored")
