"""Generate test videos from a trained TwoStreamVAN run: `python eval.py --dataset NAME --exp_name RUN [options]`.

Runs EVAL.md's unconditional protocol (`--num_per_class` videos per class, warm-up
dropped) and/or the conditional one (`--val_num` repetitions over the test clips)
and saves the videos under `<output_dir>/<exp_name>/iter_<N>/<protocol>/` (see README).
The networks are built from the options stored in the checkpoint.
"""
import os
import sys

import torch

from datasets import DatasetError
from utils.cli import check_writable, run_command
from utils.options import parse_eval_options


def run(config):
    """Generate and save the videos of the configured protocols; prints where they went."""
    from utils.data_stream import build_split
    from utils.evaluation import generate_conditional, generate_unconditional, load_trained_networks, save_outputs
    from utils.training_loop import resolve_device
    device = resolve_device(config["device"])
    check_writable(config["output_dir_run"], "output_dir")
    if config["threads"]:
        torch.set_num_threads(config["threads"])
    nets, iteration, trained, classes = load_trained_networks(config, device)
    test_set = None
    if config["protocol"] in ("conditional", "both"):
        test_set = build_split(config, "test", trained["video_length"], trained["image_size"])
        if list(test_set.classes) != classes:
            raise DatasetError(f"the test classes in {config['dataroot']} ({', '.join(test_set.classes)}) differ "
                               f"from the checkpoint's ({', '.join(classes)})")
    root = os.path.join(config["output_dir_run"], f"iter_{iteration}")
    if config["protocol"] in ("unconditional", "both"):
        videos, labels, masks = generate_unconditional(nets.generator, len(classes), config["num_per_class"],
                                                       trained["video_length"], config["eval_batch"], device,
                                                       config["seed"])
        paths = save_outputs(os.path.join(root, "unconditional"), videos, labels, classes, masks,
                             config["get_seq"], config["get_mask"])
        print(f"unconditional: {len(videos)} videos in {os.path.dirname(paths['gif'])}")
        print(f"  grid (one row per class): {paths['gif']} and {paths['png']}")
    if test_set is not None:
        videos, labels = generate_conditional(nets.generator, test_set, config["val_num"], config["batch_size"],
                                              device, config["seed"])
        paths = save_outputs(os.path.join(root, "conditional"), videos, labels, classes, None, config["get_seq"])
        print(f"conditional: {len(videos)} videos in {os.path.dirname(paths['gif'])}")
        print(f"  grid (one row per class): {paths['gif']} and {paths['png']}")


if __name__ == "__main__":
    sys.exit(run_command("eval.py", lambda argv: run(parse_eval_options(argv))))
