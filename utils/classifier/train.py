"""Train an evaluation classifier: `python -m utils.classifier.train --dataset NAME --dataroot DIR [options]`.

Flags -> one validated config (utils.classifier.options) -> data -> the loop
(utils.classifier.training). A user mistake is one line on stderr, exit 2,
and nothing is written.
"""
import sys

import torch

from utils.classifier.options import parse_classifier_train_options
from utils.classifier.training import classifier_split, resume_path, train_classifier
from utils.core.checkpoint import list_checkpoints
from utils.core.cli import check_writable, run_command
from utils.core.config import OptionError
from utils.core.device import resolve_device

PROGRAM = "python -m utils.classifier.train"


def check_actor_labels(config, train_set, test_set):
    """Raise OptionError when `--model_is_actor` is set but a clip of either split has no actor label."""
    if not config["model_is_actor"]:
        return
    unlabelled = [e.name for ds in (train_set, test_set) for e in ds.entries if e.actor < 0]
    if not train_set.actors or unlabelled:
        raise OptionError(f"--model_is_actor needs an actor label for every clip; --dataset {config['dataset']} "
                          f"in {config['dataroot']} has none" + (f" for {unlabelled[0]}" if unlabelled else ""))


def main(argv=None):
    """Parse the options, check that nothing is in the way, read the data and train."""
    config = parse_classifier_train_options(argv)
    device = resolve_device(config["device"])
    if config["threads"]:
        torch.set_num_threads(config["threads"])
    check_writable(config["checkpoint_dir_run"], "checkpoint_dir")
    check_writable(config["log_dir_run"], "log_dir")
    if config["resume"]:
        resume_path(config)
    elif list_checkpoints(config["checkpoint_dir_run"]):
        raise OptionError(f"{config['checkpoint_dir_run']} already holds checkpoints: pass --resume to continue "
                          f"that run, or choose another --exp_name")
    train_set, test_set = classifier_split(config, "train"), classifier_split(config, "test")
    if len(train_set) < config["batch_size"]:
        raise OptionError(f"--batch_size {config['batch_size']} is larger than the training split "
                          f"({len(train_set)} clips in {config['dataroot']})")
    check_actor_labels(config, train_set, test_set)
    train_classifier(config, train_set, test_set, device)


if __name__ == "__main__":
    sys.exit(run_command(PROGRAM, main))
