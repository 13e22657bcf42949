"""Scoring generated videos (EVAL.md) with an evaluation classifier and, optionally, a TorchScript I3D.

* `resolve_classifier` — a `--classifier` / `--val_classifier` value -> checkpoint file.
* `VideoScorer` — a loaded classifier (+ I3D) and the statistics of the real test clips;
  `score(videos, labels)` gives acc, I_score, intra_E, inter_E, class_intra_E, frechet (and fvd);
  `stream()` gives a `ScoreStream` that takes the videos batch by batch (same numbers).
* `Rechunker` — regroups a stream of batches into fixed-size chunks.
* `cached_statistics` — real-data feature statistics cached on disk under a key of everything
  they depend on.
* `validation_scores` — what `utils.training.loop.validate` calls: 32 videos per class, scored.

Feature conventions. Classifier ("frechet"): the output of the classifier's body
`[N, 8·ndf, t, h, w]` averaged over time and space -> `[N, 8·ndf]` (flattened, ndf 64 would need
16 384² covariances). I3D ("fvd"): frames clipped to [-1, 1] (as an image file would be),
grey repeated to 3 channels, resized bilinearly to 224x224, `[N, 3, T, 224, 224]` into the
module's forward; its output (the first item of a tuple), flattened to `[N, F]`, is the feature:
with a Kinetics-400 I3D that returns the 400 logits this is the usual FVD. Nothing is downloaded.
"""
import hashlib
import json
import os
import random
import warnings
import weakref

import numpy as np
import torch
import torch.nn.functional as F

from models import sample_videos
from utils.core.checkpoint import CheckpointError
from utils.core.config import OptionError, default_exp_root
from utils.evaluation.classifier_scoring import classify_videos, load_classifier, resolve_classifier_path
from utils.evaluation.metrics import class_intra_entropies, feature_statistics, frechet_distance, score_predictions

CACHE_VERSION = 1
CACHE_FOLDER = "stats_cache"
I3D_SIZE = 224
I3D_BATCH = 8
VALIDATION_PER_CLASS = 32
VALIDATION_METRICS = ("acc", "I_score", "intra_E", "inter_E", "class_intra_E", "frechet")


def resolve_classifier(spec, option="classifier"):
    """Take a `--<option>` value: a checkpoint file, a run folder, or an exp_name under
    `$EXP_ROOT/classifiers/checkpoints` (the classifier launchers' runs; folders give `best.pth`).
    Returns the file's absolute path; OptionError (one line) when there is none."""
    root = os.path.join(default_exp_root(), "classifiers", "checkpoints")
    try:
        path = resolve_classifier_path(os.path.expanduser(spec), "best", root)
    except CheckpointError as error:
        raise OptionError(str(error).replace("--classifier", f"--{option}", 1)) from None
    return os.path.abspath(path)


_DIGESTS = {}


def file_digest(path):
    """sha256 (hex str) of a file's content, memoised per (path, size, mtime)."""
    stat = os.stat(path)
    key = (os.path.abspath(path), stat.st_size, stat.st_mtime_ns)
    if key not in _DIGESTS:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        _DIGESTS[key] = digest.hexdigest()
    return _DIGESTS[key]


def data_description(config, test_set):
    """What the real test clips depend on, as a JSON-able dict: dataset, dataroot, split, clip settings
    (video_length, every_nth, image_size, centre crop from frame 0), split rule, and every clip's
    source (name, label, frames, stride, file size and mtime), so that changed data misses the cache."""
    clips = []
    for entry in getattr(test_set, "entries", []):
        try:
            stat = os.stat(entry.source)
            stamp = [stat.st_size, stat.st_mtime_ns]
        except (OSError, TypeError):
            stamp = None
        clips.append([entry.name, int(entry.label), str(entry.source), int(entry.start), int(entry.end),
                      int(entry.stride), stamp])
    return {"dataset": config["dataset"], "dataroot": os.path.abspath(os.path.expanduser(str(config["dataroot"]))),
            "split": "test", "video_length": int(test_set.video_length), "every_nth": int(config["every_nth"]),
            "image_size": int(test_set.image_size), "split_rule": config.get("split_rule"),
            "identity_labels": bool(config.get("identity_labels")), "clip": "centre crop, start 0",
            "n_clips": len(test_set), "clips": clips}


def _cache_name(description):
    text = json.dumps(description, sort_keys=True)
    return text, f"{description['data']['dataset']}_{hashlib.sha256(text.encode()).hexdigest()[:24]}.npz"


def cached_statistics(cache_dir, description, compute, log=print):
    """Gaussian fit of real features, cached in `<cache_dir>/<dataset>_<key>.npz`, key = a hash of
    `description` (a JSON-able dict with a `data` entry, see data_description, and the feature extractor).

    A file whose stored description equals this one is used; otherwise `compute()` -> features
    `[N, F]` is called and the result written atomically. An unreadable file is recomputed with a
    warning through `log`. Returns `(mu [F] or None, sigma [F, F] or None, n clips, hit: bool)`;
    None when fewer than 2 clips (no Fréchet distance).
    """
    text, name = _cache_name(dict(description, version=CACHE_VERSION))
    path = os.path.join(cache_dir, name)
    if os.path.exists(path):
        try:
            with np.load(path, allow_pickle=False) as data:
                if str(data["description"]) != text:
                    raise ValueError("it was made for other inputs")
                mu, sigma, count = data["mu"], data["sigma"], int(data["n"])
            if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]) or not (
                    np.all(np.isfinite(mu)) and np.all(np.isfinite(sigma))):
                raise ValueError("its statistics are malformed")
            return mu, sigma, count, True
        except Exception as error:  # numpy raises many types for a damaged file
            detail = str(error).strip().splitlines()[0][:200] if str(error).strip() else ""
            log(f"warning: stats cache {path} is unreadable ({type(error).__name__}: {detail}); recomputing it")
    features = compute()
    count = int(features.shape[0])
    if count < 2:
        log(f"warning: {count} real test clip(s): the Fréchet distance needs at least 2 (reported as nan)")
        return None, None, count, False
    mu, sigma = feature_statistics(features)
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        os.makedirs(cache_dir, exist_ok=True)
        with open(tmp, "wb") as handle:
            np.savez(handle, mu=mu, sigma=sigma, n=np.int64(count), description=np.array(text))
        os.replace(tmp, path)
    except OSError as error:
        log(f"warning: cannot write the stats cache {path} ({error.strerror or error}); not cached")
        if os.path.exists(tmp):
            os.remove(tmp)
    return mu, sigma, count, False


def classifier_outputs(model, videos, batch=32):
    """Softmax outputs `[N, K]` (float64) and body features averaged over time and space `[N, 8·ndf]`
    (float32) of the classifier on `videos [N, C, T, H, W]` (floats, not clipped)."""
    channels = model.head.in_channels
    probs, features = [], []
    for start in range(0, len(videos), batch):
        p, flat = classify_videos(model, videos[start:start + batch], batch)
        probs.append(p)
        features.append(flat.reshape(flat.shape[0], channels, -1).mean(axis=2))
    return np.concatenate(probs), np.concatenate(features)


def load_i3d(path, device):
    """Load a TorchScript I3D (`torch.jit.load`) in eval mode on `device`; OptionError (one line) for a
    missing file or one that is not TorchScript."""
    if not os.path.isfile(path):
        raise OptionError(f"--i3d {path}: no such file (expected a TorchScript I3D saved with torch.jit.save; "
                          "nothing is downloaded)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # TorchScript is deprecated in torch 2.x
            module = torch.jit.load(path, map_location=device)
    except Exception as error:  # torch raises RuntimeError, ValueError, ... for other files
        detail = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
        raise OptionError(f"--i3d {path} is not a TorchScript file (torch.jit.load: {detail})") from None
    return module.eval()


@torch.no_grad()
def i3d_features(module, videos, device, batch=I3D_BATCH):
    """Features `[N, F]` (float64) of `videos [N, C, T, H, W]` from a TorchScript I3D, with the input
    convention of the module docstring: `[B, 3, T, 224, 224]` in [-1, 1]."""
    out = []
    for start in range(0, len(videos), batch):
        x = torch.as_tensor(videos[start:start + batch]).to(device=device, dtype=torch.float32).clamp(-1, 1)
        if x.shape[1] == 1:
            x = x.repeat(1, 3, 1, 1, 1)
        b, c, t, h, w = x.shape
        frames = x.transpose(1, 2).reshape(b * t, c, h, w)
        frames = F.interpolate(frames, size=(I3D_SIZE, I3D_SIZE), mode="bilinear", align_corners=False)
        y = module(frames.reshape(b, t, c, I3D_SIZE, I3D_SIZE).transpose(1, 2).contiguous())
        if isinstance(y, (tuple, list)):
            y = y[0]
        out.append(y.reshape(b, -1).double().cpu().numpy())
    return np.concatenate(out)


def check_classes(info, classes, option="classifier"):
    """OptionError (one line) unless the classifier's actions are `classes` (names and order)."""
    if list(info["classes"]) != list(classes):
        raise OptionError(f"--{option} {info['path']} has {len(info['classes'])} action classes "
                          f"({', '.join(info['classes'])}, dataset {info['dataset']}); the generator has "
                          f"{len(classes)} ({', '.join(classes)})")


class VideoScorer:
    """An evaluation classifier (and optionally a TorchScript I3D) with the real test clips' statistics.

    classes: the generator's action names (must be the classifier's); test_set: the real test
    clips (their statistics are computed once, on first use, or read from the cache in
    `<output_dir>/stats_cache`); config: the run's options (dataset, dataroot, every_nth, split_rule,
    output_dir, num_workers).
    """

    def __init__(self, classifier_path, device, classes, test_set, config, i3d_path=None, batch=32, log=print,
                 option="classifier"):
        self.model, self.info = load_classifier(classifier_path, device)
        check_classes(self.info, classes, option)
        self.i3d = load_i3d(i3d_path, device) if i3d_path else None
        self.i3d_path = os.path.abspath(i3d_path) if i3d_path else None
        self.device, self.test_set, self.config, self.batch, self.log = device, test_set, config, batch, log
        self.cache_dir = os.path.join(os.path.abspath(os.path.expanduser(config["output_dir"])), CACHE_FOLDER)
        self.real, self.cache_hits = {}, {}

    def _real_features(self, kind):
        """Features `[N, F]` of the real test clips (in order) from the classifier or the I3D."""
        loader = torch.utils.data.DataLoader(self.test_set, batch_size=self.batch, shuffle=False, drop_last=False,
                                             num_workers=self.config.get("num_workers", 0))
        np_state = np.random.get_state()  # clip reading may use NumPy's global RNG: leave it as it was
        try:
            parts = [classifier_outputs(self.model, item["video"], self.batch)[1] if kind == "classifier"
                     else i3d_features(self.i3d, item["video"], self.device) for item in loader]
        finally:
            np.random.set_state(np_state)
        return np.concatenate(parts)

    def real_statistics(self, kind):
        """`(mu, sigma, n)` of the real test clips for `kind` ('classifier' or 'i3d'), cached."""
        if kind not in self.real:
            path = self.info["path"] if kind == "classifier" else self.i3d_path
            description = {"data": data_description(self.config, self.test_set), "features": kind,
                           "extractor": {"file": os.path.abspath(path), "sha256": file_digest(path)}}
            mu, sigma, count, hit = cached_statistics(self.cache_dir, description,
                                                      lambda: self._real_features(kind), self.log)
            self.real[kind], self.cache_hits[kind] = (mu, sigma, count), hit
        return self.real[kind]

    def score(self, videos, labels):
        """Score generated `videos [N, C, T, H, W]` (float, not clipped) made for actions `labels [N]`.

        Returns `(metrics, predicted)`: metrics = score_predictions' acc, I_score, intra_E, inter_E,
        class_intra_E plus `frechet` (pooled classifier features vs the real test clips; nan with
        fewer than 2 videos on either side) and, with an I3D, `fvd`; predicted = the folded action
        of each video, int array `[N]`.
        """
        stream = self.stream()
        stream.add(torch.as_tensor(videos), labels)
        metrics, predicted, _ = stream.finish()
        return metrics, predicted

    def stream(self):
        """A `ScoreStream` on this scorer: `add(videos, labels)` per batch, then `finish()`."""
        return ScoreStream(self)

    def _distance(self, kind, features):
        mu, sigma, _ = self.real_statistics(kind)
        if mu is None or features.shape[0] < 2:
            return float("nan")
        return frechet_distance(*feature_statistics(features), mu, sigma)


class Rechunker:
    """Regroup tensors arriving along dim 0 into chunks of exactly `size` (the last one shorter, at
    `flush`), each handed to `consume(chunk)`: the chunks are those of the concatenated stream."""

    def __init__(self, size, consume):
        self.size, self.consume, self.parts, self.count = size, consume, [], 0

    def push(self, tensor):
        """Queue `tensor [b, ...]`; consume every full chunk."""
        self.parts.append(tensor)
        self.count += len(tensor)
        while self.count >= self.size:
            joined = torch.cat(self.parts)
            self.consume(joined[:self.size])
            rest = joined[self.size:]
            self.parts, self.count = ([rest] if len(rest) else []), len(rest)

    def flush(self):
        """Consume what is left (fewer than `size` items), if anything."""
        if self.count:
            self.consume(torch.cat(self.parts))
        self.parts, self.count = [], 0


class ScoreStream:
    """Generated videos scored batch by batch, with the numbers `VideoScorer.score` gives on all of them
    at once: the classifier (and the I3D) see the same chunks of `scorer.batch` (`I3D_BATCH`) videos.
    Kept per video: softmax outputs `[K]` float64, classifier features `[8·ndf]` float32 (I3D features
    with an I3D) and the label; the videos themselves are not kept."""

    def __init__(self, scorer):
        self.scorer = scorer
        self.probs, self.features, self.i3d, self.labels = [], [], [], []
        self._classifier = Rechunker(scorer.batch, self._classify)
        self._i3d = Rechunker(I3D_BATCH, self._embed) if scorer.i3d is not None else None

    def _classify(self, chunk):
        probs, features = classifier_outputs(self.scorer.model, chunk, self.scorer.batch)
        self.probs.append(probs)
        self.features.append(features)

    def _embed(self, chunk):
        self.i3d.append(i3d_features(self.scorer.i3d, chunk, self.scorer.device))

    def add(self, videos, labels):
        """Take a batch: `videos [b, C, T, H, W]` (float tensor, not clipped), `labels [b]`."""
        self.labels.append(np.asarray(torch.as_tensor(labels).cpu()).astype(np.int64).reshape(-1))
        self._classifier.push(videos)
        if self._i3d is not None:
            self._i3d.push(videos)

    def finish(self):
        """Score everything added. Returns `(metrics, predicted, per_action)`: metrics and predicted as
        `VideoScorer.score`; per_action = class_intra_entropies, {predicted action index: mean H(P_i)}."""
        self._classifier.flush()
        probs, features = np.concatenate(self.probs), np.concatenate(self.features)
        self.probs, self.features = [probs], [features]   # the pieces go
        labels, n_actions = np.concatenate(self.labels), self.scorer.info["n_actions"]
        metrics = score_predictions(probs, labels, n_actions)
        metrics["frechet"] = self.scorer._distance("classifier", features)
        if self._i3d is not None:
            self._i3d.flush()
            self.i3d = [np.concatenate(self.i3d)]
            metrics["fvd"] = self.scorer._distance("i3d", self.i3d[0])
        return metrics, probs.argmax(axis=1) % n_actions, class_intra_entropies(probs, n_actions)


_ANNOUNCED = weakref.WeakSet()   # loggers that have said "scoring is off"
_VALIDATION_SCORER = {}          # (classifier path, device) -> VideoScorer: loaded once per process


def validation_scores(config, generator, test_set, device, logger):
    """Score generated videos during validation (call under a forked torch RNG, in no_grad).

    With `config['val_classifier']`: 32 videos per class of `video_length` frames from
    `sample_videos` (eval mode, torch and a private Python RNG seeded by `--seed`; NumPy's and
    Python's global states are restored), scored against the real `test_set` (statistics cached).
    Returns a dict acc, I_score, intra_E, inter_E, class_intra_E, frechet. Without it, logs once per
    logger that scoring is off and how to turn it on, and returns None.
    """
    path = config.get("val_classifier")
    if not path:
        if logger not in _ANNOUNCED:
            _ANNOUNCED.add(logger)
            logger.line("validation scoring of generated videos is off: pass --val_classifier PATH (an evaluation-"
                        "classifier checkpoint) to log acc, I_score, entropies and frechet under val/generated")
        return None
    key = (path, str(device), config["output_dir"])
    scorer = _VALIDATION_SCORER.get(key)
    if scorer is None or scorer.test_set is not test_set:
        _VALIDATION_SCORER.clear()
        scorer = _VALIDATION_SCORER[key] = VideoScorer(path, device, test_set.classes, test_set, config,
                                                       batch=32, log=logger.line, option="val_classifier")
    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        torch.manual_seed(config["seed"])
        rng = random.Random(config["seed"])
        videos, labels = [], []
        for cls in range(len(test_set.classes)):
            label = torch.full((VALIDATION_PER_CLASS,), cls, dtype=torch.long, device=device)
            videos.append(sample_videos(generator, label, config["video_length"], warmup=2, rng=rng)[0].cpu())
            labels.append(label.cpu())
        metrics, _ = scorer.score(torch.cat(videos), torch.cat(labels))
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
    return {name: metrics[name] for name in VALIDATION_METRICS}
