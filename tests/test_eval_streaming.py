"""eval.py's batch-by-batch generation, writing and scoring give, bit for bit, what the former
whole-set path gave: the reference below is that path (generate everything, torch.cat, save per class,
score all the videos at once), kept here as test-local functions."""
import json
import os
import random

import numpy as np
import pytest
import torch

from datasets import build_dataset, synthetic
from models import TwoStreamNetworks, sample_videos
from test_eval_scoring import SMALL, save_fake_i3d, save_tiny_classifier, scorer_config
from utils.core.data_stream import Batch
from utils.core.visualize import class_grid, frames_to_strip, save_gif, save_png, to_uint8_video
from utils.training.options import parse_train_options

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


# ---- the former whole-set path (reference) ----
def reference_unconditional(generator, num_classes, num_per_class, video_length, batch_size, device, seed):
    torch.manual_seed(seed)
    rng = random.Random(seed)
    videos, labels, masks = [], [], {}
    for cls, count in [(c, min(batch_size, num_per_class - s)) for c in range(num_classes)
                       for s in range(0, num_per_class, batch_size)]:
        label = torch.full((count,), cls, dtype=torch.long, device=device)
        video, mask = sample_videos(generator, label, video_length, warmup=2, rng=rng)
        videos.append(video.cpu())
        labels.append(label.cpu())
        for scale, m in mask.items():
            masks.setdefault(scale, []).append(m.cpu())
    return torch.cat(videos), torch.cat(labels), {s: torch.cat(m) for s, m in masks.items()}


@torch.no_grad()
def reference_conditional(generator, test_set, repetitions, batch_size, device, seed):
    torch.manual_seed(seed)
    rng = random.Random(seed)
    loader = torch.utils.data.DataLoader(test_set, batch_size=batch_size, shuffle=False, drop_last=False)
    generator.eval()
    videos, labels = [], []
    for _ in range(repetitions):
        for item in loader:
            batch = Batch.from_loader(item, generator.num_categories, device)
            video, _, _ = generator.generate_sequence(batch.images, batch.onehot, batch.diffs, 0.0, "random", rng)
            videos.append(video.cpu())
            labels.append(batch.labels.cpu())
    return torch.cat(videos), torch.cat(labels)


def reference_save(directory, videos, labels, classes, masks=None, get_seq=False, get_mask=False):
    from utils.evaluation.protocols import _mask_strip
    os.makedirs(directory, exist_ok=True)
    by_class = []
    for index, name in enumerate(classes):
        chosen = videos[labels == index]
        np.save(os.path.join(directory, f"{name}.npy"), to_uint8_video(chosen))
        by_class.append(chosen[:6])
        if get_seq:
            os.makedirs(os.path.join(directory, "sequences", name), exist_ok=True)
            for i, frames in enumerate(to_uint8_video(chosen)):
                save_png(frames_to_strip(frames), os.path.join(directory, "sequences", name, f"{i:04d}.png"))
        if get_mask and masks:
            os.makedirs(os.path.join(directory, "masks", name), exist_ok=True)
            chosen_masks = {s: m[labels == index] for s, m in masks.items()}
            for i in range(len(chosen)):
                for scale, m in chosen_masks.items():
                    save_png(_mask_strip(m[i]), os.path.join(directory, "masks", name, f"{i:04d}_scale{scale}.png"))
    present = [v for v in by_class if len(v)]
    save_gif(class_grid(present), os.path.join(directory, "samples.gif"), fps=8)
    save_png(np.concatenate([frames_to_strip(to_uint8_video(v[0])) for v in present], axis=0),
             os.path.join(directory, "samples.png"))


def reference_score(scorer, videos, labels):
    """The former VideoScorer.score: every video classified at once (chunks of scorer.batch from 0)."""
    from utils.evaluation.metrics import class_intra_entropies, feature_statistics, frechet_distance, score_predictions
    from utils.evaluation.video_scoring import classifier_outputs, i3d_features
    probs, features = classifier_outputs(scorer.model, videos, scorer.batch)
    metrics = score_predictions(probs, labels.numpy(), scorer.info["n_actions"])
    mu, sigma, _ = scorer.real_statistics("classifier")
    metrics["frechet"] = frechet_distance(*feature_statistics(features), mu, sigma)
    mu, sigma, _ = scorer.real_statistics("i3d")
    metrics["fvd"] = frechet_distance(*feature_statistics(i3d_features(scorer.i3d, videos, "cpu")), mu, sigma)
    return metrics, class_intra_entropies(probs, scorer.info["n_actions"])


# ---- fixtures ----
@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("stream")
    synthetic.generate(str(root / "data"), seed=0, videos_per_class=5, n_frames=12)
    config = parse_train_options(["--dataset", "synthetic", "--dataroot", str(root / "data"), *SMALL])
    torch.manual_seed(0)
    nets = TwoStreamNetworks.from_config(config, len(synthetic.CLASSES)).eval()
    test_set = build_dataset("synthetic", str(root / "data"), "test", video_length=10, crop=False)
    yield root, nets.generator, test_set
    torch.set_num_threads(threads)


def files_under(directory):
    return {os.path.relpath(os.path.join(d, f), directory): open(os.path.join(d, f), "rb").read()
            for d, _, names in os.walk(directory) for f in names if f not in ("metrics.json", "confusion.png")}


def scorer_for(root, test_set, batch):
    from utils.evaluation.video_scoring import VideoScorer
    return VideoScorer(save_tiny_classifier(root / "clf.pth"), torch.device("cpu"), synthetic.CLASSES, test_set,
                       scorer_config(str(root / "data"), root / "out"), i3d_path=save_fake_i3d(root / "i3d.pt"),
                       batch=batch)


def streaming_config(root):
    return {"get_seq": True, "exp_name": "s", "dataset": "synthetic", "seed": 0, "log_dir_run": str(root / "logs")}


def check_same(reference_dir, stream_dir, reference, per_action, classes):
    assert files_under(reference_dir) == files_under(stream_dir)        # npy, gif, png, strips, masks
    data = json.loads(open(os.path.join(stream_dir, "metrics.json")).read())
    assert data["metrics"] == pytest.approx(reference, rel=0, abs=0)      # the same floats
    assert data["class_intra_E_per_action"] == {classes[a]: v for a, v in per_action.items()}


@pytest.mark.slow
def test_unconditional_stream_equals_the_whole_set_path(setup, tmp_path):
    import eval as evaluation
    from utils.evaluation.protocols import unconditional_batches
    root, generator, test_set = setup
    classes = synthetic.CLASSES
    videos, labels, masks = reference_unconditional(generator, len(classes), 3, 10, 2, "cpu", 3)
    reference_save(str(tmp_path / "ref"), videos, labels, classes, masks, get_seq=True, get_mask=True)
    scorer = scorer_for(root, test_set, batch=4)        # chunks of 4 (I3D: 8) across generated batches of 2 and 1
    reference, per_action = reference_score(scorer, videos, labels)
    batches = unconditional_batches(generator, len(classes), 3, 10, 2, "cpu", 3, keep_masks=True)
    evaluation.run_protocol("unconditional", batches, [3] * len(classes), streaming_config(tmp_path),
                            str(tmp_path / "new"), classes, scorer, 1, get_mask=True)
    assert len(files_under(str(tmp_path / "ref"))) == 4 + 2 + 4 * 3 * (1 + len(masks))
    check_same(str(tmp_path / "ref"), str(tmp_path / "new" / "unconditional"), reference, per_action, classes)


def test_conditional_stream_equals_the_whole_set_path(setup, tmp_path):
    import eval as evaluation
    from utils.evaluation.protocols import class_counts, clip_labels, conditional_batches
    root, generator, test_set = setup
    classes = synthetic.CLASSES
    videos, labels = reference_conditional(generator, test_set, 2, 3, "cpu", 1)
    reference_save(str(tmp_path / "ref"), videos, labels, classes, None, get_seq=True)
    scorer = scorer_for(root, test_set, batch=5)
    reference, per_action = reference_score(scorer, videos, labels)
    counts = class_counts(len(classes), clip_labels(test_set), 2)
    assert counts == [int((labels == c).sum()) for c in range(len(classes))]
    evaluation.run_protocol("conditional", conditional_batches(generator, test_set, 2, 3, "cpu", 1), counts,
                            streaming_config(tmp_path), str(tmp_path / "new"), classes, scorer, 1, get_mask=False)
    check_same(str(tmp_path / "ref"), str(tmp_path / "new" / "conditional"), reference, per_action, classes)


def test_masks_are_not_kept_without_get_mask(setup):
    from utils.evaluation.protocols import unconditional_batches
    _, generator, _ = setup
    assert all(masks is None for _, _, masks in unconditional_batches(generator, 2, 1, 10, 1, "cpu", 0))


def test_rechunker_gives_the_chunks_of_the_concatenation():
    from utils.evaluation.video_scoring import Rechunker
    stream = torch.arange(23)
    got = []
    chunker = Rechunker(4, got.append)
    for part in torch.split(stream, [3, 1, 7, 2, 0, 5, 5]):
        chunker.push(part)
    chunker.flush()
    assert [c.tolist() for c in got] == [c.tolist() for c in torch.split(stream, 4)]


def test_writer_refuses_a_short_or_long_protocol(tmp_path):
    from utils.evaluation.protocols import ProtocolWriter
    writer = ProtocolWriter(str(tmp_path), ["a", "b"], [1, 2])
    writer.add(torch.zeros(2, 3, 10, 8, 8), torch.tensor([0, 1]))
    with pytest.raises(RuntimeError, match="more videos than the 1 announced"):
        writer.add(torch.zeros(1, 3, 10, 8, 8), torch.tensor([0]))
    with pytest.raises(RuntimeError, match="fewer videos than announced .*b 1/2"):
        writer.close()
    writer.add(torch.zeros(1, 3, 10, 8, 8), torch.tensor([1]))
    writer.close()
    assert np.load(tmp_path / "b.npy").shape == (2, 10, 8, 8, 3)
    assert np.array_equal(np.load(tmp_path / "a.npy"), np.full((1, 10, 8, 8, 3), 128, np.uint8))
