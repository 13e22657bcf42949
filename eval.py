"""Generate (and score) test videos of a trained TwoStreamVAN run: `python eval.py --dataset NAME --exp_name RUN [options]`.

Runs EVAL.md's unconditional protocol (`--num_per_class` videos per class, warm-up
dropped) and/or the conditional one (`--val_num` repetitions over the test clips)
and saves the videos under `<output_dir>/<exp_name>/iter_<N>/<protocol>/` (see README).
With `--classifier`, each protocol is scored (accuracy, IS, intra/inter entropy, class-aware
intra entropy, Fréchet distance on the classifier's features, FVD with `--i3d`): a line in
`<log_dir>/<exp_name>/results.txt`, `metrics.json` and `confusion.png` beside the videos.
The networks are built from the options stored in the checkpoint, and the test split from the
run's data options (every_nth, split_rule, identity_labels, crop, miniclip, video_length,
image_size, n_channels): a command-line value that differs is refused. Videos are generated,
written and scored batch by batch, so memory does not grow with the number of videos.
"""
import os
import sys

import numpy as np
import torch

from datasets import DatasetError
from utils.core.cli import check_writable, run_command
from utils.core.config import OptionError
from utils.core.data_stream import build_split
from utils.core.device import resolve_device
from utils.core.host_memory import configure_host_memory
from utils.evaluation.protocols import (ProtocolWriter, class_counts, clip_labels, conditional_batches,
                                        load_trained_networks, unconditional_batches)
from utils.evaluation.reports import RESULTS_NAME, write_report
from utils.evaluation.video_scoring import VideoScorer
from utils.training.options import RUN_DATA_OPTIONS, parse_eval_options


def apply_run_options(config, trained):
    """Take the run's data and model options (RUN_DATA_OPTIONS) from the checkpoint's config `trained`
    into `config` (in place). OptionError (one line) when the command line gave a different value;
    an option the checkpoint lacks (an older run) keeps the command-line value, with a note."""
    for name in RUN_DATA_OPTIONS:
        if name not in trained:
            print(f"note: the checkpoint does not record --{name}; using {config[name]!r}")
            continue
        if name in config.get("given", ()) and config[name] != trained[name]:
            shown = "on" if trained[name] is True else "off" if trained[name] is False else trained[name]
            raise OptionError(f"--{name} {config[name]!r} differs from the run's ({shown}): eval.py takes the "
                              f"data and model options from the checkpoint; leave --{name} out")
        config[name] = trained[name]


def score_report(scorer_stream, scorer, config, directory, protocol, iteration, classes):
    """Finish one protocol's `ScoreStream`, write its report and print the metrics."""
    metrics, predicted, per_action = scorer_stream.finish()
    labels = np.concatenate(scorer_stream.labels)
    info = {"classifier": scorer.info["path"], "classifier_iteration": scorer.info["iteration"],
            "i3d": scorer.i3d_path, "real_clips": scorer.real["classifier"][2],
            "stats_cache": {kind: "hit" if hit else "miss" for kind, hit in scorer.cache_hits.items()},
            "stats_cache_dir": scorer.cache_dir}
    results_file = os.path.join(config["log_dir_run"], RESULTS_NAME)
    line = write_report(directory, results_file, protocol, iteration, config, classes, metrics, labels,
                        predicted, info, per_action={classes[a]: v for a, v in per_action.items()})
    print(f"{protocol} metrics: {line}")
    print(f"  confusion matrix: {os.path.join(directory, 'confusion.png')}; appended to {results_file}")


def run_protocol(protocol, batches, counts, config, root, classes, scorer, iteration, get_mask):
    """Write (and score) one protocol batch by batch; prints where its files went."""
    directory = os.path.join(root, protocol)
    writer = ProtocolWriter(directory, classes, counts, config["get_seq"], get_mask)
    stream = scorer.stream() if scorer is not None else None
    for item in batches:
        videos, labels = item[0], item[1]
        writer.add(videos, labels, item[2] if len(item) > 2 else None)
        if stream is not None:
            stream.add(videos, labels)
        del item, videos
    paths = writer.close()
    print(f"{protocol}: {sum(counts)} videos in {os.path.dirname(paths['gif'])}")
    print(f"  grid (one row per class): {paths['gif']} and {paths['png']}")
    if stream is not None:
        score_report(stream, scorer, config, directory, protocol, iteration, classes)


def run(config):
    """Generate and save the videos of the configured protocols batch by batch (and score them with
    `--classifier`); prints where they went."""
    device = resolve_device(config["device"])
    nets, iteration, trained, classes = load_trained_networks(config, device)
    apply_run_options(config, trained)
    check_writable(config["output_dir_run"], "output_dir")
    if config["classifier"]:
        check_writable(config["log_dir_run"], "log_dir")
    if config["threads"]:
        torch.set_num_threads(config["threads"])
    configure_host_memory(config["host_memory"])
    test_set = None
    if config["protocol"] in ("conditional", "both") or config["classifier"]:
        test_set = build_split(config, "test", trained["video_length"], trained["image_size"])
        if list(test_set.classes) != classes:
            raise DatasetError(f"the test classes in {config['dataroot']} ({', '.join(test_set.classes)}) differ "
                               f"from the checkpoint's ({', '.join(classes)})")
    scorer = None
    if config["classifier"]:
        scorer = VideoScorer(config["classifier"], device, classes, test_set, config, i3d_path=config["i3d"],
                             batch=config["eval_batch"])
    else:
        print("scoring is off: no --classifier given (pass an evaluation-classifier checkpoint, e.g. "
              "$EXP_ROOT/classifiers/checkpoints/<run>/best.pth, for accuracy, IS, entropies and Fréchet distance)")
    root = os.path.join(config["output_dir_run"], f"iter_{iteration}")
    if config["protocol"] in ("unconditional", "both"):
        n = config["num_per_class"]
        batches = unconditional_batches(nets.generator, len(classes), n, trained["video_length"],
                                        config["eval_batch"], device, config["seed"], keep_masks=config["get_mask"])
        run_protocol("unconditional", batches, [n] * len(classes), config, root, classes, scorer, iteration,
                     config["get_mask"])
    if config["protocol"] in ("conditional", "both"):
        counts = class_counts(len(classes), clip_labels(test_set), config["val_num"])
        batches = conditional_batches(nets.generator, test_set, config["val_num"], config["batch_size"], device,
                                      config["seed"])
        run_protocol("conditional", batches, counts, config, root, classes, scorer, iteration, False)


if __name__ == "__main__":
    sys.exit(run_command("eval.py", lambda argv: run(parse_eval_options(argv))))
