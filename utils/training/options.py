"""Command line -> one validated configuration (a plain dict), for train.py and eval.py.

Option names are the public interface of TRAINING.md §5. `parse_train_options`
and `parse_eval_options` raise `OptionError` (one line naming the option and what
was expected) for any user mistake; the scripts print it and exit non-zero.
"""
import argparse
import os
import re

from datasets import DATASET_NAMES, DatasetError, dataset_classes, dataset_options
from datasets.folder import SPLIT_RULES
from models.networks import GROUPS, MODEL_OPTIONS
from utils.core.config import OptionError, OptionParser, default_exp_root
from utils.evaluation.classifier_scoring import load_classifier
from utils.evaluation.video_scoring import check_classes, resolve_classifier
from utils.training.optimization import parse_group_lr


def _base_parser(description):
    p = OptionParser(description=description, allow_abbrev=False)
    root = default_exp_root()
    data = p.add_argument_group("data")
    data.add_argument("--dataset", required=True, help="dataset name (see README: Weizmann, MUG, SynAction, VoxCeleb, folder, synthetic)")
    data.add_argument("--dataroot", default=os.environ.get("DATAROOT"), help="dataset folder (default: $DATAROOT)")
    data.add_argument("--textroot", default=None, help="where video lists are written (default: the loader's choice)")
    data.add_argument("--every_nth", type=int, default=1, help="temporal stride of a clip")
    data.add_argument("--video_length", type=int, default=10, help="frames per training clip")
    data.add_argument("--image_size", type=int, default=64, help="frame size (the networks are built for 64)")
    data.add_argument("--n_channels", type=int, default=3, help="image channels")
    data.add_argument("--crop", action="store_true", help="random crops for training (test always crops deterministically)")
    data.add_argument("--miniclip", action="store_true", help="Weizmann: 20 fixed clips per training video")
    data.add_argument("--split_rule", default="auto", help="folder datasets: auto | folders | videos | mirror_pairs | frames | all")
    data.add_argument("--identity_labels", action="store_true",
                      help="VoxCeleb: one class per identity (default: unconditional, one class)")
    data.add_argument("--num_workers", type=int, default=0, help="DataLoader worker processes")
    exp = p.add_argument_group("experiment")
    exp.add_argument("--model", default="TwoStreamVAN", choices=["TwoStreamVAN"], help="model name")
    exp.add_argument("--exp_name", default=None, help="run name appended to each directory (default: the dataset name)")
    exp.add_argument("--log_dir", default=os.path.join(root, "logs"), help="TensorBoard and text logs (+ exp_name)")
    exp.add_argument("--checkpoint_dir", default=os.path.join(root, "checkpoints"), help="checkpoints (+ exp_name)")
    exp.add_argument("--output_dir", default=os.path.join(root, "results"), help="generated videos (+ exp_name)")
    exp.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    exp.add_argument("--seed", type=int, default=0, help="seed of Python, NumPy and torch RNGs")
    exp.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: PyTorch's default)")
    exp.add_argument("--which_iter", default="latest", help="checkpoint to load: 'latest' or an iteration")
    exp.add_argument("--host_memory", default="retain", choices=["retain", "release"],
                     help="retain: malloc reuses freed CPU memory between steps instead of returning it to the "
                          "kernel (glibc; faster steps, utils/SPEED.md item 9); release: malloc's defaults")
    return p


def _add_model_options(p):
    model = p.add_argument_group("model")
    model.add_argument("--batch_size", type=int, default=32)
    model.add_argument("--motion_dim", type=int, default=64)
    model.add_argument("--cont_dim", type=int, default=512)
    model.add_argument("--gf_dim", type=int, default=16)
    model.add_argument("--use_bn", action="store_true", help="BatchNorm in the content stream and trajectory head")
    model.add_argument("--no_mask", action="store_true", help="TwoStreamVAN-M: fuse without masks")
    model.add_argument("--joint", action="store_true", help="joint content-motion input (the full model)")
    model.add_argument("--ac_kernel", type=int, default=5, help="odd size of the separable kernels")
    model.add_argument("--kernel_layer", type=int, default=4, help="fusion at the finest 1..4 scales")
    model.add_argument("--image_ndf", type=int, default=16, help="patch image discriminator width (published 16)")
    model.add_argument("--video_ndf", type=int, default=64, help="video discriminator width (published 64)")


def _add_training_options(p):
    t = p.add_argument_group("training")
    t.add_argument("--resume", action="store_true", help="continue from --which_iter of this exp_name")
    t.add_argument("--force_resume_config", action="store_true",
                   help="resume even when model/schedule options differ from the checkpoint's")
    t.add_argument("--print_freq", type=int, default=200)
    t.add_argument("--save_freq", type=int, default=1000)
    t.add_argument("--val_freq", type=int, default=1000)
    t.add_argument("--val_batches", type=int, default=0, help="validation batches per task (0: the whole split)")
    t.add_argument("--keep_checkpoints", type=int, default=0, help="keep only the newest N numbered checkpoints (0: all)")
    t.add_argument("--max_nonfinite", type=int, default=10,
                   help="stop (without saving) after this many consecutive non-finite steps (0: never stop)")
    t.add_argument("--pretrain_iters", type=int, default=0)
    t.add_argument("--total_iters", type=int, default=100000)
    t.add_argument("--c_kl_start", type=float, default=7.0)
    t.add_argument("--c_kl_end", type=float, default=7.0)
    t.add_argument("--c_img_dis", type=float, default=10.0)
    t.add_argument("--img_m_kl", type=float, default=7.0)
    t.add_argument("--vid_m_kl_start", type=float, default=2.0)
    t.add_argument("--vid_m_kl_end", type=float, default=20.0)
    t.add_argument("--xp_vs_xtilde", type=float, default=1.0)
    t.add_argument("--pred_scale_feat", type=float, default=100.0)
    t.add_argument("--video_scale_feat", type=float, default=100.0)
    t.add_argument("--c_kl_iter_end", type=int, default=100000, help="end of the c_kl ramp (published 100000)")
    t.add_argument("--video_iter_start", type=int, default=150000,
                   help="start of the ε and video-KL ramps, before the pre-training shift (published 150000)")
    t.add_argument("--video_iter_end", type=int, default=400000,
                   help="end of the ε and video-KL ramps, before the pre-training shift (published 400000)")
    t.add_argument("--cont_ratio_start", type=float, default=0.4)
    t.add_argument("--cont_ratio_end", type=float, default=0.4)
    t.add_argument("--cont_ratio_iter_start", type=int, default=0)
    t.add_argument("--cont_ratio_iter_end", type=int, default=200000)
    t.add_argument("--motion_ratio_start", type=float, default=0.1)
    t.add_argument("--motion_ratio_end", type=float, default=0.9)
    t.add_argument("--motion_ratio_iter_start", type=int, default=0)
    t.add_argument("--motion_ratio_iter_end", type=int, default=150000)
    t.add_argument("--lr", type=float, default=2e-4, help="Adam learning rate of all six groups (published 2e-4)")
    t.add_argument("--group_lr", default="",
                   help="NAME=LR[,NAME=LR...]: other learning rates for named groups (content_encoder, content_decoder, "
                        "motion_encoder, motion_decoder, image_discriminator, video_discriminator); the rest keep --lr")
    t.add_argument("--detach_feedback", action="store_true",
                   help="free-running steps (ε < 1) read their own earlier frames without gradient (off, as published; "
                        "README, 'Deliberate deviations')")
    t.add_argument("--grad_clip", type=float, default=0.0,
                   help="scale each group's gradient down to this L2 norm before its Adam step (0: off, as published; "
                        "README, 'Deliberate deviations')")
    t.add_argument("--amp", default="off", choices=["off", "bf16"],
                   help="mixed precision: autocast the networks to bfloat16 (SepConv and losses stay float32)")
    t.add_argument("--tf32", action="store_true", help="CUDA: allow TF32 matrix products and convolutions")
    t.add_argument("--dry_run", action="store_true", help="print the options and parameter counts, then exit")
    t.add_argument("--val_classifier", default=None,
                   help="evaluation-classifier checkpoint (file, run folder or exp_name under $EXP_ROOT/classifiers/"
                        "checkpoints): each validation scores 32 generated videos per class (default: off)")


def _add_test_options(p):
    t = p.add_argument_group("test")
    t.add_argument("--protocol", default="both", choices=["unconditional", "conditional", "both"],
                   help="EVAL.md protocols to run")
    t.add_argument("--batch_size", type=int, default=32, help="test clips per batch (conditional protocol)")
    t.add_argument("--val_num", type=int, default=100, help="repetitions of the conditional protocol")
    t.add_argument("--num_per_class", type=int, default=900, help="unconditional videos per class")
    t.add_argument("--eval_batch", type=int, default=90, help="videos generated per batch")
    t.add_argument("--get_seq", action="store_true", help="also save each video as a PNG strip")
    t.add_argument("--get_mask", action="store_true", help="also save the motion masks of every scale as PNG")
    t.add_argument("--classifier", default=None,
                   help="evaluation-classifier checkpoint scoring the videos: a file, a run folder or an exp_name "
                        "under $EXP_ROOT/classifiers/checkpoints (folders: best.pth); default: no scoring")
    t.add_argument("--i3d", default=None,
                   help="TorchScript I3D file (torch.jit.save) for FVD, with --classifier; nothing is downloaded")


def _check(condition, option, expected, value):
    if not condition:
        raise OptionError(f"--{option} must be {expected}, got {value!r}")


def validate(config):
    """Raise OptionError for values out of range; returns the config with derived fields."""
    c = config
    if c["dataset"] not in DATASET_NAMES:
        raise OptionError(f"unknown dataset {c['dataset']!r} (known: {', '.join(DATASET_NAMES)})")
    _check(c["video_length"] >= 10, "video_length", "at least 10 (the video discriminator spans 10 frames)",
           c["video_length"])
    _check(c["image_size"] == 64, "image_size", "64 (the networks are built for 64x64 frames)", c["image_size"])
    _check(c["n_channels"] >= 1, "n_channels", "a positive integer", c["n_channels"])
    _check(c["every_nth"] >= 1, "every_nth", "a positive integer", c["every_nth"])
    if "ac_kernel" in c:
        _validate_model(c)
    _check(c["batch_size"] >= 1, "batch_size", "a positive integer", c["batch_size"])
    _check(c["num_workers"] >= 0, "num_workers", "non-negative", c["num_workers"])
    _check(c["threads"] >= 0, "threads", "non-negative", c["threads"])
    _check(re.fullmatch(r"auto|cpu|cuda(:[0-9]+)?", c["device"]) is not None, "device", "auto, cpu, cuda or cuda:N",
           c["device"])
    _check(c["which_iter"] == "latest" or str(c["which_iter"]).isdigit(), "which_iter",
           "'latest' or an iteration number", c["which_iter"])
    _check(c["split_rule"] in SPLIT_RULES, "split_rule", f"one of {', '.join(SPLIT_RULES)}", c["split_rule"])
    if c.get("identity_labels"):
        _check_loader_option(c["dataset"], "identity_labels")
    _validate_rest(c)
    return _derive(c)


def _check_loader_option(dataset, option):
    """Raise OptionError unless the loader of `dataset` takes the keyword `option` (see build_split)."""
    try:
        accepted = dataset_options(dataset)
    except DatasetError as error:
        raise OptionError(str(error)) from None
    if option not in accepted:
        having = [name for name in DATASET_NAMES if option in dataset_options(name)]
        raise OptionError(f"--{option} is not an option of --dataset {dataset} (only of: {', '.join(having)})")


def _validate_model(c):
    _check(c["ac_kernel"] >= 1 and c["ac_kernel"] % 2 == 1, "ac_kernel", "a positive odd integer", c["ac_kernel"])
    _check(1 <= c["kernel_layer"] <= 4, "kernel_layer", "in 1..4", c["kernel_layer"])
    for name in ("motion_dim", "cont_dim", "gf_dim", "image_ndf", "video_ndf"):
        _check(c[name] >= 1, name, "a positive integer", c[name])


def _validate_rest(c):
    if "total_iters" in c:
        for name in ("print_freq", "save_freq", "val_freq"):
            _check(c[name] >= 1, name, "a positive integer", c[name])
        for name in ("total_iters", "pretrain_iters", "val_batches", "keep_checkpoints", "max_nonfinite",
                     "cont_ratio_iter_start",
                     "cont_ratio_iter_end", "motion_ratio_iter_start", "motion_ratio_iter_end"):
            _check(c[name] >= 0, name, "non-negative", c[name])
        _check(c["lr"] > 0, "lr", "a positive learning rate", c["lr"])
        try:
            c["group_lr"] = parse_group_lr(c["group_lr"], GROUPS)
        except ValueError as error:
            raise OptionError(f"--group_lr: {error}") from None
        _check(0 <= c["grad_clip"] < float("inf"), "grad_clip", "a finite norm >= 0 (0: off)", c["grad_clip"])
        for name in ("c_kl_start", "c_kl_end", "c_img_dis", "img_m_kl", "vid_m_kl_start", "vid_m_kl_end",
                     "xp_vs_xtilde", "pred_scale_feat", "video_scale_feat"):
            _check(c[name] >= 0, name, "a non-negative weight", c[name])
        for name in ("cont_ratio_start", "cont_ratio_end", "motion_ratio_start", "motion_ratio_end"):
            _check(0 <= c[name] <= 1, name, "a probability in [0, 1]", c[name])
        _check(c["c_kl_iter_end"] >= 0, "c_kl_iter_end", "non-negative", c["c_kl_iter_end"])
        _check(0 <= c["video_iter_start"] <= c["video_iter_end"], "video_iter_end",
               "at least --video_iter_start (both non-negative)", c["video_iter_end"])
        for kind in ("cont_ratio", "motion_ratio"):
            _check(c[f"{kind}_iter_end"] >= c[f"{kind}_iter_start"], f"{kind}_iter_end",
                   f"at least --{kind}_iter_start", c[f"{kind}_iter_end"])
    if "val_num" in c:
        for name in ("val_num", "num_per_class", "eval_batch"):
            _check(c[name] >= 1, name, "a positive integer", c[name])
    _validate_scoring(c)


def _validate_scoring(c):
    """Resolve --classifier / --i3d (eval.py) and --val_classifier (train.py) to absolute files."""
    if c.get("classifier"):
        c["classifier"] = resolve_classifier(c["classifier"], "classifier")
        if c["dataroot"] is None:
            raise OptionError("--classifier needs --dataroot (or DATAROOT): the Fréchet distance compares the "
                              "generated videos with the real test clips")
    if c.get("i3d"):
        if not c.get("classifier"):
            raise OptionError("--i3d needs --classifier (FVD is reported with the classifier's metrics)")
        if not os.path.isfile(c["i3d"]):
            raise OptionError(f"--i3d {c['i3d']}: no such file (expected a TorchScript I3D saved with "
                              "torch.jit.save; nothing is downloaded)")
        c["i3d"] = os.path.abspath(c["i3d"])
    if c.get("val_classifier"):
        c["val_classifier"] = resolve_classifier(c["val_classifier"], "val_classifier")
        classes = dataset_classes(c["dataset"])
        info = load_classifier(c["val_classifier"])[1]
        if classes is not None and not c.get("identity_labels"):  # else checked at the first validation
            check_classes(info, classes, "val_classifier")


def _derive(c):
    needs_data = not c.get("dry_run") and c.get("protocol") != "unconditional"
    if c["dataroot"] is None and needs_data:
        raise OptionError("--dataroot is required (or set DATAROOT)")
    c["exp_name"] = c["exp_name"] or c["dataset"]
    for key in ("log_dir", "checkpoint_dir", "output_dir"):
        c[f"{key}_run"] = os.path.join(os.path.abspath(os.path.expanduser(c[key])), c["exp_name"])
    return c


def parse_train_options(argv=None):
    """Parse and validate train.py's command line -> config dict."""
    p = _base_parser("Train TwoStreamVAN.")
    _add_model_options(p)
    _add_training_options(p)
    return validate(vars(p.parse_args(argv)))


# Data and model options eval.py takes from the checkpoint's stored run; a different command-line value is refused.
RUN_DATA_OPTIONS = ("every_nth", "split_rule", "identity_labels", "crop", "miniclip", "video_length", "image_size",
                    "n_channels")


def parse_eval_options(argv=None):
    """Parse and validate eval.py's command line -> config dict; `config['given']` lists the options
    (dest names) written on the command line."""
    p = _base_parser("Generate (and save) videos from a trained TwoStreamVAN checkpoint.")
    _add_test_options(p)
    for action in p._actions:
        if action.dest in RUN_DATA_OPTIONS:
            action.help = (f"{action.help}; eval.py: the run's value from the checkpoint (a different value is "
                           f"refused)")
        elif action.dest in ("dataroot", "textroot"):
            action.help = (f"{action.help}; eval.py: may differ from the run's (a location: the data may have "
                           f"moved)")
    config = vars(p.parse_args(argv))
    for action in p._actions:  # a second pass without defaults tells which options were written
        action.default = argparse.SUPPRESS
    config["given"] = sorted(vars(p.parse_args(argv)))
    return validate(config)


# Options that change the model: `models.networks.MODEL_OPTIONS` (eval.py builds the networks from them).
# Options that change the model or the schedules; a resume must agree on them.
RESUME_OPTIONS = MODEL_OPTIONS + (
    "identity_labels", "lr", "group_lr", "grad_clip", "detach_feedback", "pretrain_iters", "c_kl_iter_end", "video_iter_start", "video_iter_end", "c_kl_start", "c_kl_end", "vid_m_kl_start", "vid_m_kl_end", "cont_ratio_start",
    "cont_ratio_end", "cont_ratio_iter_start", "cont_ratio_iter_end", "motion_ratio_start", "motion_ratio_end",
    "motion_ratio_iter_start", "motion_ratio_iter_end")

