"""Train TwoStreamVAN: `python train.py --dataset NAME --dataroot DIR [options]` (see README).

`torchrun --nproc_per_node N train.py ...` trains with N processes; `--batch_size` is then the
global batch, split evenly over the processes (README, *Multi-GPU and multi-node training*)."""
import json
import os
import sys

from datasets import dataset_classes
from models import TwoStreamNetworks
from utils.core.cli import TRAINING_FAULT_STATUS, USER_ERROR_STATUS, TrainingAborted, check_writable, run_command
from utils.core.config import OptionError
from utils.core.data_stream import build_split
from utils.core.device import resolve_device
from utils.training.distributed import env_rank, env_world_size, init_distributed, process_device
from utils.training.loop import resume_checkpoint_path, training_loop
from utils.training.options import parse_train_options


def build_datasets(config):
    """Train and test datasets of the configured dataset; checks the batch fits the training split."""
    train_set, test_set = build_split(config, "train"), build_split(config, "test")
    if len(train_set) < config["batch_size"]:
        raise OptionError(f"--batch_size {config['batch_size']} is larger than the training split "
                          f"({len(train_set)} clips in {config['dataroot']})")
    return train_set, test_set


def dry_run(config):
    """Print the resolved options and the parameter counts of the three networks."""
    classes = dataset_classes(config["dataset"])
    if classes is None:
        classes = build_datasets(config)[0].classes
    print(json.dumps({k: v for k, v in config.items()}, indent=2, sort_keys=True))
    counts = TwoStreamNetworks.from_config(config, len(classes)).parameter_counts()
    print(f"params generator={counts['generator']} image_discriminator={counts['image_discriminator']} "
          f"video_discriminator={counts['video_discriminator']}")


def main(argv=None):
    """Parse the options, then dry-run or train."""
    config = parse_train_options(argv)
    if config["dry_run"]:
        dry_run(config)
        return
    world_size = env_world_size()
    if world_size > 1:  # torchrun: every check below runs on every rank, before the ranks join
        if config["batch_size"] % world_size:
            raise OptionError(f"--batch_size {config['batch_size']} (the global batch) is not divisible by the "
                              f"{world_size} processes of torchrun")
        process_device(config["device"], int(os.environ.get("LOCAL_RANK", "0")))
    else:
        resolve_device(config["device"])
    check_writable(config["checkpoint_dir_run"], "checkpoint_dir")
    check_writable(config["log_dir_run"], "log_dir")
    if config["resume"]:
        resume_checkpoint_path(config)  # fail before reading the data when there is nothing to resume
    train_set, test_set = build_datasets(config)
    sync = init_distributed(config["device"])   # None for one process
    try:
        training_loop(config, train_set, test_set, sync=sync)
    finally:
        if sync is not None:
            sync.close()


def other_rank_main(argv=None):
    """`main` on a torchrun rank other than 0: option mistakes and agreed training faults, which every
    rank meets alike, are left to rank 0 to print; data and checkpoint errors keep their line."""
    try:
        main(argv)
    except OptionError:
        raise SystemExit(USER_ERROR_STATUS) from None
    except TrainingAborted:
        raise SystemExit(TRAINING_FAULT_STATUS) from None


if __name__ == "__main__":
    sys.exit(run_command("train.py" if env_rank() == 0 else f"train.py [rank {env_rank()}]",
                         main if env_rank() == 0 else other_rank_main))
