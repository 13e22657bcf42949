"""Score a trained evaluation classifier on the real test clips (centre crop, start 0):
`python -m utils.classifier.eval --dataset NAME --dataroot DIR --classifier PATH_OR_EXP [--which best|latest|N]
[--clip_transform none|reversed|static]`.

Prints one results line (accuracy folded to the action, IS, intra/inter entropy)
and appends it to a results file. `--clip_transform reversed` (frames in reverse order) or `static`
(the first frame repeated) scores altered clips instead: what the classifier reads. A classifier that
reads the motion of direction classes labels reversed clips as the opposite class (accuracy near 0);
one that reads where the actor is keeps them (README, "Evaluation classifiers"). The reusable parts for the generator's
evaluation are in utils.evaluation.classifier_scoring (`load_classifier`, `classify_videos`).
"""
import os
import sys
import time

import torch

from utils.classifier.options import parse_classifier_eval_options
from utils.classifier.training import classifier_split
from utils.core.cli import check_writable, run_command
from utils.core.config import OptionError
from utils.core.device import resolve_device
from utils.evaluation.classifier_scoring import load_classifier, resolve_classifier_path, score_dataset

PROGRAM = "python -m utils.classifier.eval"
RESULTS_NAME = "results.txt"


def results_line(info, dataset, clips, metrics, transform="none"):
    """One results line: what was scored (and `clip_transform=` unless 'none') and every metric by name;
    returns a str."""
    names = ["acc", "I_score", "intra_E", "inter_E", "class_intra_E", "loss"]
    names += ["acc_actor_action"] if "acc_actor_action" in metrics else []
    altered = f"clip_transform={transform} " if transform != "none" else ""
    return (f"classifier={info['path']} iter={info['iteration']} dataset={dataset} split=test {altered}clips={clips} "
            + " ".join(f"{name}={metrics[name]:.4f}" for name in names))


def main(argv=None):
    """Parse the options, load the classifier, score the test split, print and append the results line."""
    config = parse_classifier_eval_options(argv)
    device = resolve_device(config["device"])
    if config["threads"]:
        torch.set_num_threads(config["threads"])
    path = resolve_classifier_path(config["classifier"], config["which"], config["checkpoint_dir"])
    results_file = config["results_file"] or os.path.join(os.path.dirname(os.path.abspath(path)), RESULTS_NAME)
    check_writable(os.path.dirname(os.path.abspath(results_file)), "results_file")
    model, info = load_classifier(path, device)
    if info["dataset"] != config["dataset"]:
        raise OptionError(f"--classifier {path} was trained on --dataset {info['dataset']}, not {config['dataset']}")
    for key in ("split_rule", "test_every"):  # the split the classifier was validated on, unless overridden
        if config[key] is None:
            config[key] = info.get(key)
    test_set = classifier_split(config, "test", info)
    for key in ("classes",) + (("actors",) if info["model_is_actor"] else ()):
        if list(getattr(test_set, key)) != list(info[key]):
            raise OptionError(f"the test data in {config['dataroot']} has the {key} {getattr(test_set, key)}, "
                              f"the classifier {info[key]}")
    metrics, clips = score_dataset(model, test_set, info, config["batch_size"], config["num_workers"],
                                   config["clip_transform"])
    line = results_line(info, config["dataset"], clips, metrics, config["clip_transform"])
    print(line)
    os.makedirs(os.path.dirname(os.path.abspath(results_file)), exist_ok=True)
    with open(results_file, "a") as handle:
        handle.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}\n")
    print(f"appended to {results_file}")


if __name__ == "__main__":
    sys.exit(run_command(PROGRAM, main))
