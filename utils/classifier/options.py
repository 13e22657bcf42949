"""Command lines of the evaluation-classifier commands -> one validated configuration (a plain dict).

`parse_classifier_train_options` (python -m utils.classifier.train) and
`parse_classifier_eval_options` (python -m utils.classifier.eval) raise
`OptionError` (one line naming the option) for any user mistake. Runs go to
`<checkpoint_dir>/<exp_name>` and `<log_dir>/<exp_name>`, by default under
`$EXP_ROOT/classifiers/` so that they never mix with generator runs.
"""
import argparse
import os

from datasets import DATASET_NAMES, dataset_options
from datasets.folder import SPLIT_RULES
from utils.core.config import OptionError, OptionParser, default_exp_root

# EVAL.md: the two kinds of classifier and their published learning rate and per-epoch decay.
KIND_DEFAULTS = {"action": {"lr": 5e-4, "lr_decay": 0.995}, "actor_action": {"lr": 1e-4, "lr_decay": 0.999}}
ADAM_BETAS = (0.5, 0.999)
CHECKPOINT_NAMES = ("best", "latest")


# --every_nth when not given: the published classifier's per dataset (EVAL.md: Weizmann 2, MUG 1; SynAction
# uses its per-action strides, the value is ignored); the datasets the authors did not use get train.py's 1.
EVERY_NTH_DEFAULTS = {"Weizmann": 2, "MUG": 1}
EVERY_NTH_FALLBACK = 1


class _DefaultsFormatter(argparse.HelpFormatter):
    """Help that ends each option with its default, unless the help already says it or there is none."""

    def _get_help_string(self, action):
        text = action.help or ""
        shown = not (action.default is None or action.default is False or action.default == argparse.SUPPRESS)
        if shown and "default" not in text and action.option_strings:
            text += " (default: %(default)s)"
        return text


def classifier_root():
    """`$EXP_ROOT/classifiers` (EXP_ROOT defaults to the repository's `checkpoints/`)."""
    return os.path.join(default_exp_root(), "classifiers")


def _add_data_options(p, for_eval):
    data = p.add_argument_group("data")
    data.add_argument("--dataset", required=True, help="Weizmann, MUG, SynAction, VoxCeleb, folder or synthetic")
    data.add_argument("--dataroot", default=os.environ.get("DATAROOT"), help="dataset folder (default: $DATAROOT)")
    data.add_argument("--textroot", default=None, help="where video lists are written (default: none)")
    data.add_argument("--split_rule", default=None,
                      help="folder/synthetic datasets: auto | folders | videos | mirror_pairs | frames | all"
                           + (" (default: the classifier's)" if for_eval else " (default: the loader's)"))
    data.add_argument("--test_every", type=int, default=None,
                      help="folder/synthetic, rules videos and mirror_pairs: every k-th video (unit) of a class "
                           "is test" + (" (default: the classifier's)" if for_eval else " (default: 5)"))
    data.add_argument("--num_workers", type=int, default=0, help="DataLoader worker processes")
    data.add_argument("--batch_size", type=int, default=32, help="clips per batch")
    if not for_eval:
        data.add_argument("--every_nth", type=int, default=None,
                          help="temporal stride of a clip (default: the published one per dataset, Weizmann 2, "
                               "MUG 1; SynAction: per action, ignored; other datasets 1)")
        data.add_argument("--video_length", type=int, default=10, help="frames per clip")
        data.add_argument("--image_size", type=int, default=64, help="frame size (the network is built for 64)")
        data.add_argument("--n_channels", type=int, default=3, help="image channels")


def _add_run_options(p):
    root = classifier_root()
    run = p.add_argument_group("run")
    run.add_argument("--checkpoint_dir", default=os.path.join(root, "checkpoints"),
                     help="checkpoints go to <checkpoint_dir>/<exp_name> (default: $EXP_ROOT/classifiers/checkpoints)")
    run.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    run.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: PyTorch's default)")
    return run


def _check(condition, option, expected, value):
    if not condition:
        raise OptionError(f"--{option} must be {expected}, got {value!r}")


def _validate_data(c):
    if c["dataset"] not in DATASET_NAMES:
        raise OptionError(f"unknown dataset {c['dataset']!r} (known: {', '.join(DATASET_NAMES)})")
    if not c["dataroot"]:
        raise OptionError("--dataroot is required (or set DATAROOT)")
    for name in ("split_rule", "test_every"):
        if c[name] is not None and name not in dataset_options(c["dataset"]):
            raise OptionError(f"--{name} is not an option of --dataset {c['dataset']} (only of folder, synthetic)")
    _check(c["split_rule"] is None or c["split_rule"] in SPLIT_RULES, "split_rule",
           f"one of {', '.join(SPLIT_RULES)}", c["split_rule"])
    _check(c["test_every"] is None or c["test_every"] >= 2, "test_every", "an integer >= 2", c["test_every"])
    for name in ("batch_size", "every_nth", "n_channels"):
        if name in c:
            _check(c[name] >= 1, name, "a positive integer", c[name])
    _check(c["num_workers"] >= 0, "num_workers", "non-negative", c["num_workers"])
    _check(c["threads"] >= 0, "threads", "non-negative", c["threads"])
    if "video_length" in c:
        _check(c["video_length"] >= 10, "video_length", "at least 10 (the network spans 10 frames)",
               c["video_length"])
        _check(c["image_size"] == 64, "image_size", "64 (the network is built for 64x64 frames)", c["image_size"])


def parse_classifier_train_options(argv=None):
    """Parse and validate `python -m utils.classifier.train`'s command line; returns the config dict.

    Derived fields: `lr`/`lr_decay` (the kind's defaults when not given), `every_nth` (the
    published one of the dataset when not given, EVERY_NTH_DEFAULTS), `exp_name`
    (`<dataset>` or `<dataset>_actor`), `checkpoint_dir_run`, `log_dir_run`.
    """
    p = OptionParser(formatter_class=_DefaultsFormatter, prog="python -m utils.classifier.train", allow_abbrev=False,
                       description="Train an evaluation video classifier (EVAL.md) on real data.")
    _add_data_options(p, for_eval=False)
    model = p.add_argument_group("model and optimiser")
    model.add_argument("--ndf", type=int, default=64, help="width of the video discriminator body (published 64)")
    model.add_argument("--model_is_actor", action="store_true",
                       help="actor x action classes (label = action + actor * n_actions); accuracy folds them back")
    model.add_argument("--lr", type=float, default=None, help="Adam learning rate (default 5e-4; actor x action 1e-4)")
    model.add_argument("--lr_decay", type=float, default=None,
                       help="lr factor after every epoch (default 0.995; actor x action 0.999)")
    model.add_argument("--weight_decay", type=float, default=1e-5, help="Adam weight decay")
    train = p.add_argument_group("training")
    train.add_argument("--shift_augment", type=int, default=0,
                       help="translate each training clip by a random (dx, dy) in [-PX, PX] px, every frame alike, "
                            "edges replicated, so that the classifier reads how the actor moves rather than where "
                            "it is (0: off, as published)")
    train.add_argument("--total_iters", type=int, default=100000, help="iterations (one batch each)")
    train.add_argument("--val_freq", type=int, default=100, help="validate and save checkpoints every N iterations")
    train.add_argument("--print_freq", type=int, default=10, help="print the training loss every N iterations")
    train.add_argument("--keep_checkpoints", type=int, default=0,
                       help="keep only the newest N numbered checkpoints (0: all; best and latest always kept)")
    train.add_argument("--resume", action="store_true", help="continue this exp_name from its latest checkpoint")
    train.add_argument("--seed", type=int, default=0, help="seed of Python, NumPy and torch RNGs and the data order")
    run = _add_run_options(p)
    run.add_argument("--exp_name", default=None, help="run name (default: <dataset>, or <dataset>_actor)")
    run.add_argument("--log_dir", default=os.path.join(classifier_root(), "logs"),
                     help="text log and TensorBoard go to <log_dir>/<exp_name> (default: $EXP_ROOT/classifiers/logs)")
    c = vars(p.parse_args(argv))
    if c["every_nth"] is None:
        c["every_nth"] = EVERY_NTH_DEFAULTS.get(c["dataset"], EVERY_NTH_FALLBACK)
    _validate_data(c)
    _check(c["ndf"] >= 1, "ndf", "a positive integer", c["ndf"])
    for name in ("total_iters", "val_freq", "print_freq"):
        _check(c[name] >= 1, name, "a positive integer", c[name])
    _check(c["keep_checkpoints"] >= 0, "keep_checkpoints", "non-negative", c["keep_checkpoints"])
    _check(0 <= c["shift_augment"] < c["image_size"] // 2, "shift_augment",
           f"in 0..{c['image_size'] // 2 - 1} (px, less than half the frame)", c["shift_augment"])
    kind = KIND_DEFAULTS["actor_action" if c["model_is_actor"] else "action"]
    c["lr"] = kind["lr"] if c["lr"] is None else c["lr"]
    c["lr_decay"] = kind["lr_decay"] if c["lr_decay"] is None else c["lr_decay"]
    _check(c["lr"] > 0, "lr", "positive", c["lr"])
    _check(0 < c["lr_decay"] <= 1, "lr_decay", "in (0, 1]", c["lr_decay"])
    _check(c["weight_decay"] >= 0, "weight_decay", "non-negative", c["weight_decay"])
    c["exp_name"] = c["exp_name"] or (c["dataset"] + ("_actor" if c["model_is_actor"] else ""))
    _check(c["exp_name"] not in ("", ".", "..") and os.sep not in c["exp_name"], "exp_name",
           "a plain folder name", c["exp_name"])
    for key in ("checkpoint_dir", "log_dir"):
        c[f"{key}_run"] = os.path.join(os.path.abspath(os.path.expanduser(c[key])), c["exp_name"])
    return c


def parse_classifier_eval_options(argv=None):
    """Parse and validate `python -m utils.classifier.eval`'s command line; returns the config dict."""
    p = OptionParser(formatter_class=_DefaultsFormatter, prog="python -m utils.classifier.eval", allow_abbrev=False,
                       description="Score a trained evaluation classifier on the real test clips.")
    _add_data_options(p, for_eval=True)
    _add_run_options(p)
    ev = p.add_argument_group("evaluation")
    ev.add_argument("--classifier", required=True,
                    help="a checkpoint file, a run folder, or an exp_name under --checkpoint_dir")
    ev.add_argument("--which", default="best", help="best | latest | an iteration (for a folder or exp_name)")
    ev.add_argument("--results_file", default=None,
                    help="file the results line is appended to (default: results.txt beside the checkpoint)")
    ev.add_argument("--clip_transform", default="none", choices=("none", "reversed", "static"),
                    help="score the test clips as they are (none), in reverse frame order (reversed) or as "
                         "their first frame repeated (static): what the classifier reads")
    c = vars(p.parse_args(argv))
    _validate_data(c)
    _check(c["which"] in CHECKPOINT_NAMES or str(c["which"]).isdigit(), "which",
           "best, latest or an iteration number", c["which"])
    return c
