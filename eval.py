"""Generate (and score) test videos of a trained TwoStreamVAN run: `python eval.py --dataset NAME --exp_name RUN [options]`.

Runs EVAL.md's unconditional protocol (`--num_per_class` videos per class, warm-up
dropped) and/or the conditional one (`--val_num` repetitions over the test clips)
and saves the videos under `<output_dir>/<exp_name>/iter_<N>/<protocol>/` (see README).
With `--classifier`, each protocol is scored (accuracy, IS, intra/inter entropy, class-aware
intra entropy, Fréchet distance on the classifier's features, FVD with `--i3d`): a line in
`<log_dir>/<exp_name>/results.txt`, `metrics.json` and `confusion.png` beside the videos.
The networks are built from the options stored in the checkpoint.
"""
import os
import sys

import torch

from datasets import DatasetError
from utils.cli import check_writable, run_command
from utils.options import parse_eval_options


def score_protocol(scorer, config, directory, protocol, iteration, classes, videos, labels):
    """Score one protocol's `videos [N, C, T, H, W]` (labels `[N]`) and write its report; prints the metrics."""
    from utils.eval_reports import RESULTS_NAME, write_report
    metrics, predicted = scorer.score(videos, labels)
    info = {"classifier": scorer.info["path"], "classifier_iteration": scorer.info["iteration"],
            "i3d": scorer.i3d_path, "real_clips": scorer.real["classifier"][2],
            "stats_cache": {kind: "hit" if hit else "miss" for kind, hit in scorer.cache_hits.items()},
            "stats_cache_dir": scorer.cache_dir}
    results_file = os.path.join(config["log_dir_run"], RESULTS_NAME)
    line = write_report(directory, results_file, protocol, iteration, config, classes, metrics, labels.numpy(),
                        predicted, info)
    print(f"{protocol} metrics: {line}")
    print(f"  confusion matrix: {os.path.join(directory, 'confusion.png')}; appended to {results_file}")


def run(config):
    """Generate and save the videos of the configured protocols (and score them with `--classifier`);
    prints where they went."""
    from utils.data_stream import build_split
    from utils.evaluation import generate_conditional, generate_unconditional, load_trained_networks, save_outputs
    from utils.training_loop import resolve_device
    device = resolve_device(config["device"])
    check_writable(config["output_dir_run"], "output_dir")
    if config["classifier"]:
        check_writable(config["log_dir_run"], "log_dir")
    if config["threads"]:
        torch.set_num_threads(config["threads"])
    nets, iteration, trained, classes = load_trained_networks(config, device)
    test_set = None
    if config["protocol"] in ("conditional", "both") or config["classifier"]:
        test_set = build_split(config, "test", trained["video_length"], trained["image_size"])
        if list(test_set.classes) != classes:
            raise DatasetError(f"the test classes in {config['dataroot']} ({', '.join(test_set.classes)}) differ "
                               f"from the checkpoint's ({', '.join(classes)})")
    scorer = None
    if config["classifier"]:
        from utils.video_scoring import VideoScorer
        scorer = VideoScorer(config["classifier"], device, classes, test_set, config, i3d_path=config["i3d"],
                             batch=config["eval_batch"])
    else:
        print("scoring is off: no --classifier given (pass an evaluation-classifier checkpoint, e.g. "
              "$EXP_ROOT/classifiers/checkpoints/<run>/best.pth, for accuracy, IS, entropies and Fréchet distance)")
    root = os.path.join(config["output_dir_run"], f"iter_{iteration}")
    if config["protocol"] in ("unconditional", "both"):
        videos, labels, masks = generate_unconditional(nets.generator, len(classes), config["num_per_class"],
                                                       trained["video_length"], config["eval_batch"], device,
                                                       config["seed"])
        directory = os.path.join(root, "unconditional")
        paths = save_outputs(directory, videos, labels, classes, masks, config["get_seq"], config["get_mask"])
        print(f"unconditional: {len(videos)} videos in {os.path.dirname(paths['gif'])}")
        print(f"  grid (one row per class): {paths['gif']} and {paths['png']}")
        if scorer is not None:
            score_protocol(scorer, config, directory, "unconditional", iteration, classes, videos, labels)
        del videos, masks
    if config["protocol"] in ("conditional", "both"):
        videos, labels = generate_conditional(nets.generator, test_set, config["val_num"], config["batch_size"],
                                              device, config["seed"])
        directory = os.path.join(root, "conditional")
        paths = save_outputs(directory, videos, labels, classes, None, config["get_seq"])
        print(f"conditional: {len(videos)} videos in {os.path.dirname(paths['gif'])}")
        print(f"  grid (one row per class): {paths['gif']} and {paths['png']}")
        if scorer is not None:
            score_protocol(scorer, config, directory, "conditional", iteration, classes, videos, labels)


if __name__ == "__main__":
    sys.exit(run_command("eval.py", lambda argv: run(parse_eval_options(argv))))
