"""Scoring generated videos (utils.evaluation.video_scoring, utils.evaluation.reports) and validation scoring during training."""
import os
import random

import numpy as np
import pytest
import torch

from datasets import build_dataset, synthetic
from utils.core.checkpoint import save_checkpoint
from utils.evaluation.classifier_scoring import build_classifier, classifier_info
from utils.training.options import OptionError

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

SMALL = ["--cont_dim", "16", "--motion_dim", "8", "--gf_dim", "4", "--image_ndf", "4", "--video_ndf", "4",
         "--batch_size", "2", "--joint", "--threads", "1"]


def save_tiny_classifier(path, seed=0, classes=synthetic.CLASSES, model_is_actor=False):
    """Write an untrained ndf-2 classifier checkpoint for the synthetic classes to `path`; returns str(path)."""
    config = dict(dataset="synthetic", model_is_actor=model_is_actor, ndf=2, n_channels=3, video_length=10,
                  every_nth=1, image_size=64)
    info = classifier_info(config, classes, synthetic.ACTOR_NAMES)
    torch.manual_seed(seed)
    save_checkpoint(str(path), {"model": build_classifier(info).state_dict(), "classifier": info, "iteration": 7})
    return str(path)


class FakeI3D(torch.nn.Module):
    """Stands in for a TorchScript I3D: checks the input convention, returns 3 features per video."""

    def forward(self, x):
        if x.dim() != 5 or x.shape[1] != 3 or x.shape[3] != 224 or x.shape[4] != 224:
            raise RuntimeError("expected [N, 3, T, 224, 224]")
        if bool(x.min() < -1) or bool(x.max() > 1):
            raise RuntimeError("expected values in [-1, 1]")
        return torch.stack([x.mean(dim=(1, 2, 3, 4)), x.std(dim=(1, 2, 3, 4)), x[:, 0].mean(dim=(1, 2, 3))], 1)


def save_fake_i3d(path):
    torch.jit.script(FakeI3D()).save(str(path))
    return str(path)


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("scoring") / "data"
    synthetic.generate(str(root), seed=0, videos_per_class=5, n_frames=12)
    return str(root)


@pytest.fixture(scope="module")
def test_set(data_root):
    return build_dataset("synthetic", data_root, "test", video_length=10, crop=False)


def scorer_config(data_root, out):
    return {"dataset": "synthetic", "dataroot": data_root, "every_nth": 1, "split_rule": "auto",
            "output_dir": str(out), "num_workers": 0}


def test_cached_statistics_hit_miss_and_corrupt_file(tmp_path):
    from utils.evaluation.video_scoring import cached_statistics
    calls, lines = [], []
    features = np.random.default_rng(0).normal(size=(6, 3))

    def compute():
        calls.append(1)
        return features
    description = {"data": {"dataset": "synthetic", "clips": [1, 2]}, "features": "classifier", "extractor": "a"}
    mu, sigma, n, hit = cached_statistics(str(tmp_path), description, compute, lines.append)
    assert (n, hit, len(calls)) == (6, False, 1) and np.allclose(mu, features.mean(0))
    again = cached_statistics(str(tmp_path), description, compute, lines.append)
    assert again[3] is True and len(calls) == 1 and np.allclose(again[1], sigma)
    other = cached_statistics(str(tmp_path), dict(description, extractor="b"), compute, lines.append)
    assert other[3] is False and len(calls) == 2
    for path in tmp_path.iterdir():
        path.write_bytes(b"not a numpy file")
    corrupt = cached_statistics(str(tmp_path), description, compute, lines.append)
    assert corrupt[3] is False and len(calls) == 3 and any("unreadable" in line for line in lines)
    assert cached_statistics(str(tmp_path), description, compute, lines.append)[3] is True
    assert not [f for f in os.listdir(tmp_path) if ".tmp" in f]


def test_scorer_metrics_cache_and_changed_classifier(tmp_path, data_root, test_set):
    from utils.evaluation.video_scoring import VideoScorer
    path = save_tiny_classifier(tmp_path / "clf.pth")
    config = scorer_config(data_root, tmp_path / "out")
    videos = torch.rand(8, 3, 10, 64, 64) * 2.4 - 1.2   # not clipped: the classifier sees floats as they are
    labels = torch.arange(8) % 4
    first = VideoScorer(path, torch.device("cpu"), synthetic.CLASSES, test_set, config, batch=4)
    metrics, predicted = first.score(videos, labels)
    assert set(metrics) == {"acc", "I_score", "intra_E", "inter_E", "class_intra_E", "frechet"}
    assert all(np.isfinite(v) for v in metrics.values()) and predicted.shape == (8,)
    assert first.cache_hits == {"classifier": False} and first.real["classifier"][2] == len(test_set)
    second = VideoScorer(path, torch.device("cpu"), synthetic.CLASSES, test_set, config, batch=4)
    assert second.score(videos, labels)[0] == metrics and second.cache_hits == {"classifier": True}
    save_tiny_classifier(path, seed=1)  # same path, other weights: the cache must miss
    third = VideoScorer(path, torch.device("cpu"), synthetic.CLASSES, test_set, config, batch=4)
    third.score(videos, labels)
    assert third.cache_hits == {"classifier": False}


def test_scorer_refuses_other_classes(tmp_path, data_root, test_set):
    from utils.evaluation.video_scoring import VideoScorer
    path = save_tiny_classifier(tmp_path / "clf.pth", classes=["a", "b", "c"])
    with pytest.raises(OptionError, match="has 3 action classes .* the generator has 4"):
        VideoScorer(path, torch.device("cpu"), synthetic.CLASSES, test_set, scorer_config(data_root, tmp_path))


def test_i3d_errors_and_features(tmp_path, data_root, test_set):
    from utils.evaluation.video_scoring import VideoScorer, load_i3d
    with pytest.raises(OptionError, match="no such file"):
        load_i3d(str(tmp_path / "missing.pt"), "cpu")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "plain.pt")
    with pytest.raises(OptionError, match="is not a TorchScript file") as error:
        load_i3d(str(tmp_path / "plain.pt"), "cpu")
    assert "\n" not in str(error.value)
    scorer = VideoScorer(save_tiny_classifier(tmp_path / "clf.pth"), torch.device("cpu"), synthetic.CLASSES,
                         test_set, scorer_config(data_root, tmp_path), i3d_path=save_fake_i3d(tmp_path / "i3d.pt"))
    metrics, _ = scorer.score(torch.rand(4, 3, 10, 64, 64) * 3 - 1.5, torch.arange(4))
    assert np.isfinite(metrics["fvd"]) and metrics["fvd"] > 0 and scorer.cache_hits["i3d"] is False


def test_report_files_and_results_line(tmp_path):
    import json
    from utils.evaluation.reports import summary_lines, write_report
    metrics = {"acc": 50.0, "I_score": 1.5, "intra_E": 0.5, "inter_E": 1.2, "class_intra_E": 0.4,
               "frechet": 3.25, "fvd": float("nan")}
    config = {"exp_name": "x", "dataset": "synthetic", "seed": 0}
    directory = tmp_path / "iter_5" / "unconditional"
    line = write_report(str(directory), str(tmp_path / "logs" / "results.txt"), "unconditional", 5, config,
                        ["a", "b"], metrics, np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1]),
                        {"classifier": "c.pth"}, per_action={"a": 0.25, "b": 0.55})
    for name in ("protocol=unconditional", "iter=5", "videos=4", "acc=50.0000", "I_score=", "intra_E=",
                 "inter_E=", "class_intra_E=", "frechet=3.2500", "fvd=nan",
                 "class_intra_E[a]=0.2500 class_intra_E[b]=0.5500 classifier=c.pth"):
        assert name in line
    assert (tmp_path / "logs" / "results.txt").read_text().strip().endswith(line)
    data = json.loads((directory / "metrics.json").read_text())
    assert data["confusion_matrix"] == [[1, 1], [0, 2]] and data["metrics"]["fvd"] is None
    assert data["class_intra_E_per_action"] == {"a": 0.25, "b": 0.55}
    assert (directory / "confusion.png").read_bytes()[:4] == b"\x89PNG"
    assert summary_lines(str(tmp_path / "iter_5"))[0].startswith("unconditional (4 videos, iteration 5): accuracy 50.0 %")


class RecordingLogger:
    def __init__(self):
        self.lines, self.scalar_calls = [], []

    def line(self, message):
        self.lines.append(message)

    def scalars(self, prefix, values, step):
        self.scalar_calls.append((prefix, dict(values), step))

    def videos(self, *args, **kwargs):
        pass


def rng_states():
    return random.getstate(), np.random.get_state()[1].tolist(), torch.get_rng_state()


@pytest.mark.parametrize("with_classifier", [True, False])
def test_validation_scoring(tmp_path, data_root, monkeypatch, with_classifier):
    import utils.evaluation.video_scoring as video_scoring
    from models import TwoStreamNetworks
    from utils.core.data_stream import build_split
    from utils.training.loop import validate
    from utils.training.options import parse_train_options
    from utils.training.schedules import Schedules
    monkeypatch.setattr(video_scoring, "VALIDATION_PER_CLASS", 2)  # 32 per class in real runs
    loads = []
    real_load = video_scoring.load_classifier
    monkeypatch.setattr(video_scoring, "load_classifier", lambda *a, **k: loads.append(1) or real_load(*a, **k))
    extra = ["--val_classifier", save_tiny_classifier(tmp_path / "clf.pth")] if with_classifier else []
    config = parse_train_options(["--dataset", "synthetic", "--dataroot", data_root, *SMALL, "--val_batches", "1",
                                  "--output_dir", str(tmp_path / "out"), *extra])
    test_set = build_split(config, "test")
    nets = TwoStreamNetworks.from_config(config, len(test_set.classes))
    logger = RecordingLogger()
    before = rng_states()
    # during pre-training only the content task is validated: nothing generated, nothing scored
    summary = validate(config, nets, test_set, torch.device("cpu"), 1, Schedules.from_config(config), logger,
                       pretraining=True)
    assert list(summary) == ["content"] and [line.split(":")[0] for line in logger.lines] == ["val 1 content"]
    assert not loads and not [call for call in logger.scalar_calls if call[0] == "val/generated"]
    for iteration in (2, 4):
        summary = validate(config, nets, test_set, torch.device("cpu"), iteration, Schedules.from_config(config),
                           logger, pretraining=False)
    assert str(rng_states()) == str(before)  # training randomness untouched
    off = [line for line in logger.lines if "scoring of generated videos is off" in line]
    if not with_classifier:
        assert "generated" not in summary and len(off) == 1 and "--val_classifier" in off[0]
        return
    assert not off and len(loads) == 1  # the classifier is loaded once per run
    assert set(summary["generated"]) == {"acc", "I_score", "intra_E", "inter_E", "class_intra_E", "frechet"}
    logged = [call for call in logger.scalar_calls if call[0] == "val/generated"]
    assert [call[2] for call in logged] == [2, 4] and logged[0][1] == logged[1][1]  # same weights, same videos
    assert any(line.startswith("val 4 generated: acc=") and "frechet=" in line for line in logger.lines)
    assert os.listdir(tmp_path / "out" / "stats_cache")


def test_val_classifier_option_checked_at_parse_time(tmp_path, data_root):
    from utils.training.options import parse_train_options
    common = ["--dataset", "synthetic", "--dataroot", data_root, "--output_dir", str(tmp_path)]
    with pytest.raises(OptionError, match="--val_classifier .*missing.pth"):
        parse_train_options(common + ["--val_classifier", str(tmp_path / "missing.pth")])
    with pytest.raises(OptionError, match="--val_classifier"):
        parse_train_options(common + ["--val_classifier",
                                      save_tiny_classifier(tmp_path / "c.pth", classes=["a", "b"])])
    path = save_tiny_classifier(tmp_path / "ok.pth")
    assert parse_train_options(common + ["--val_classifier", path])["val_classifier"] == path
