"""Peak resident memory of eval.py at N and 10·N videos with the demo model, and projections.

`python -m utils.tools.eval_memory_benchmark [--num_per_class 90] [--factor 10] [--workdir DIR]`

Makes (in --workdir, default a temporary folder) the synthetic data set, a demo-model run
(bashes/TwoStreamVAN/DemoTrain.bash's architecture, trained 1 iteration: weights do not change the
memory) and an untrained demo-sized evaluation classifier (ndf 8, as bashes/classifier/Demo_train.bash;
or --classifier FILE), then runs `eval.py --protocol unconditional --eval_batch 90 --classifier ...`
twice in child processes, with `--num_per_class` n and factor·n (4 classes), and reads each child's
peak resident set size (`getrusage(RUSAGE_CHILDREN).ru_maxrss` in a fresh intermediate process).
Prints both peaks, their ratio, the growth per video, and projections for the published protocols
(MUG conditional: 100 repetitions × ~880 test clips; SynAction unconditional: 900 × 20 classes),
both from the measured growth and from what is kept per video by design (classifier outputs and
features, `ndf` 64 as published).
"""
import argparse
import os
import subprocess
import sys
import tempfile

import torch

from datasets import synthetic
from utils.core.checkpoint import save_checkpoint
from utils.core.config import REPO_ROOT
from utils.evaluation.classifier_scoring import build_classifier, classifier_info

REPO = str(REPO_ROOT)
DEMO_MODEL = ["--joint", "--batch_size", "8", "--cont_dim", "64", "--motion_dim", "16", "--gf_dim", "8",
              "--image_ndf", "16", "--video_ndf", "16", "--crop"]
PROTOCOLS = {"MUG conditional (100 x ~880 test clips)": 88_000,
             "SynAction unconditional (900 x 20 classes)": 18_000}
PUBLISHED_FEATURES, PUBLISHED_CLASSES = 8 * 64, 20
MEASURE = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, "
           "stderr=subprocess.PIPE, text=True); sys.stderr.write(r.stderr[-3000:] if r.returncode else ''); "
           "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(r.returncode)")


def prepare(workdir, threads):
    """Synthetic data, a 1-iteration demo run and a demo-sized classifier under `workdir`; returns
    `(dataroot, location options, classifier path)`."""
    data = os.path.join(workdir, "data")
    if not os.path.isfile(os.path.join(data, "synthetic.json")):
        synthetic.generate(data, seed=0)
    where = ["--log_dir", os.path.join(workdir, "logs"), "--checkpoint_dir", os.path.join(workdir, "ckpt"),
             "--output_dir", os.path.join(workdir, "results")]
    if not os.path.isdir(os.path.join(workdir, "ckpt", "Demo")):
        subprocess.run([sys.executable, os.path.join(REPO, "train.py"), "--dataset", "synthetic", "--dataroot", data,
                        "--exp_name", "Demo", *DEMO_MODEL, *where, "--total_iters", "1", "--val_freq", "100",
                        "--print_freq", "100", "--threads", str(threads)], cwd=REPO, check=True,
                       stdout=subprocess.DEVNULL)
    classifier = os.path.join(workdir, "classifier.pth")
    if not os.path.isfile(classifier):
        config = dict(dataset="synthetic", model_is_actor=False, ndf=8, n_channels=3, video_length=10, every_nth=1,
                      image_size=64)
        info = classifier_info(config, synthetic.CLASSES, synthetic.ACTOR_NAMES)
        torch.manual_seed(0)
        save_checkpoint(classifier, {"model": build_classifier(info).state_dict(), "classifier": info,
                                     "iteration": 0})
    return data, where, classifier


def peak_rss_mb(command):
    """Run `command` (a list) in a child of a fresh Python process; returns its peak RSS in MB."""
    result = subprocess.run([sys.executable, "-c", MEASURE, *command], cwd=REPO, capture_output=True, text=True)
    if result.returncode:
        raise SystemExit(f"eval.py failed (exit {result.returncode}): {result.stderr.strip()[-2000:]}")
    return int(result.stdout.strip().splitlines()[-1]) / 1024.0


def main(argv=None):
    """Measure, print the peaks and projections; returns 0."""
    p = argparse.ArgumentParser(prog="python -m utils.tools.eval_memory_benchmark", description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--num_per_class", type=int, default=90, help="n: videos per class of the small run (4 classes)")
    p.add_argument("--factor", type=int, default=10, help="the large run makes factor·n per class")
    p.add_argument("--eval_batch", type=int, default=90, help="eval.py --eval_batch")
    p.add_argument("--threads", type=int, default=2, help="eval.py --threads")
    p.add_argument("--workdir", default=None, help="where data, run and outputs go (default: a temporary folder)")
    p.add_argument("--classifier", default=None, help="a trained classifier checkpoint (default: untrained, ndf 8)")
    p.add_argument("--host_memory", default="retain", choices=["retain", "release"], help="eval.py --host_memory")
    args = p.parse_args(argv)
    workdir = args.workdir or tempfile.mkdtemp(prefix="eval_memory_")
    data, where, classifier = prepare(workdir, args.threads)
    classifier = args.classifier or classifier
    peaks = {}
    for n in (args.num_per_class, args.factor * args.num_per_class):
        peaks[n] = peak_rss_mb([sys.executable, os.path.join(REPO, "eval.py"), "--dataset", "synthetic",
                                "--dataroot", data, "--exp_name", "Demo", *where, "--protocol", "unconditional",
                                "--num_per_class", str(n), "--eval_batch", str(args.eval_batch), "--classifier",
                                classifier, "--threads", str(args.threads), "--host_memory", args.host_memory])
        print(f"eval.py, {4 * n} videos: peak resident memory {peaks[n]:.0f} MB", flush=True)
    small, large = args.num_per_class, args.factor * args.num_per_class
    per_video = max(peaks[large] - peaks[small], 0.0) / (4 * (large - small))
    print(f"ratio {peaks[large] / peaks[small]:.3f} ({4 * large} vs {4 * small} videos); measured growth "
          f"{per_video * 1024:.2f} KB per video (outputs in {workdir})")
    kept = (PUBLISHED_CLASSES * 8 + PUBLISHED_FEATURES * (4 + 8 + 8) + 8) / 2 ** 20  # MB per video, see README
    for name, videos in PROTOCOLS.items():
        print(f"projection, {name}, {videos} videos: {peaks[small] + per_video * (videos - 4 * small):.0f} MB from "
              f"the measured growth; + {kept * videos:.0f} MB kept per video by design with the published "
              f"ndf-64 classifier")
    return 0


if __name__ == "__main__":
    sys.exit(main())
