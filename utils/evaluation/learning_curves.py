"""Learning curves of a training run: one JSON line per validation and one PNG redrawn from them.

`<log_dir>/<exp_name>/learning_curve.jsonl`, one record per validation (rank 0 writes it):
    {"iteration": 250, "time": <unix seconds>, "num_classes": 4,
     "val": {"content": {"mse": ..., "kl": ..., ...}, "frame": {...}, "video": {...}},
     "generated": {"acc": ..., "I_score": ..., "intra_E": ..., "inter_E": ..., "class_intra_E": ..., "frechet": ...}}
"val" holds each task's mean validation losses (content only during pre-training); "generated"
is present only with `--val_classifier`. Non-finite numbers are stored as null. A line is appended
and flushed to disk per validation; a line torn by a crash is skipped on reading with a warning.

`learning_curve.png` next to it is redrawn (atomically) after every record: accuracy (with the
chance level), IS, Fréchet and entropies of the generated videos when scored, then per task its
reconstruction terms and its adversarial / class terms against the iteration.

Resume: a run that starts at iteration N (0 for a fresh one) first drops the records after N
left by the run it continues (they came from weights it discards); the record at N itself was
made with the checkpointed weights and is kept. Readers keep the last record per iteration.

Redraw from a finished run: `python -m utils.evaluation.learning_curves <log folder of the run>`; with
`--compare <other run's log folder> ... --out <png>` the runs share the panels (one line style per run).
"""
import argparse
import json
import math
import os
import sys
import time

CURVE_RECORDS = "learning_curve.jsonl"
CURVE_IMAGE = "learning_curve.png"
TASK_ORDER = ("pretrain", "content", "frame", "video")
RECONSTRUCTION_TERMS = ("mse", "kl", "scale_feat")


def curve_paths(run_log_dir):
    """`(records .jsonl, image .png)` paths of the learning curve in a run's log folder."""
    return os.path.join(run_log_dir, CURVE_RECORDS), os.path.join(run_log_dir, CURVE_IMAGE)


def _finite_or_none(value):
    value = float(value)
    return value if math.isfinite(value) else None


def make_record(iteration, summary, num_classes, wall_time=None):
    """The JSON-able record of one validation from `validate`'s summary (task -> losses, 'generated')."""
    record = {"iteration": int(iteration), "time": time.time() if wall_time is None else float(wall_time),
              "num_classes": int(num_classes),
              "val": {task: {k: _finite_or_none(v) for k, v in losses.items()}
                      for task, losses in summary.items() if task != "generated"}}
    if summary.get("generated") is not None:
        record["generated"] = {k: _finite_or_none(v) for k, v in summary["generated"].items()}
    return record


def append_record(path, record):
    """Append one record as a JSON line, flushed and fsynced; a torn last line (no newline) is
    first closed so that it cannot swallow the new record."""
    line = json.dumps(record, allow_nan=False) + "\n"
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "a+b") as handle:
        if handle.tell() > 0:
            handle.seek(-1, os.SEEK_END)
            if handle.read(1) != b"\n":
                line = "\n" + line
        handle.write(line.encode())
        handle.flush()
        os.fsync(handle.fileno())


def _parse_lines(path, warn):
    """(line number, record) of every readable record in file order; `warn(message)` for the others."""
    with open(path, "rb") as handle:
        lines = handle.read().decode("utf-8", errors="replace").split("\n")
    parsed = []
    for number, text in enumerate(lines, 1):
        if not text.strip():
            continue
        try:
            record = json.loads(text)
            if not isinstance(record, dict) or not isinstance(record.get("iteration"), int):
                raise ValueError("no integer 'iteration'")
        except ValueError as error:
            torn = "torn (an interrupted write?)" if number >= len(lines) - 1 else "unreadable"
            warn(f"warning: {path} line {number} is {torn}, skipped ({str(error).splitlines()[0][:80]})")
            continue
        parsed.append((number, record))
    return parsed


def read_records(path, warn=None):
    """The records of a .jsonl file sorted by iteration, the last one written per iteration kept;
    unreadable lines are skipped with a warning through `warn` (default: stderr)."""
    warn = warn or (lambda message: print(message, file=sys.stderr))
    latest = {}
    for _, record in _parse_lines(path, warn):
        latest[record["iteration"]] = record
    return [latest[iteration] for iteration in sorted(latest)]


def trim_records(path, after_iteration, warn=None):
    """Drop the records with iteration > `after_iteration` (and unreadable lines) by an atomic
    rewrite; returns how many records were dropped (0: the file is left as it was)."""
    if not os.path.isfile(path):
        return 0
    skipped = []
    parsed = _parse_lines(path, skipped.append)
    keep = [record for _, record in parsed if record["iteration"] <= after_iteration]
    dropped = len(parsed) - len(keep)
    if dropped == 0 and not skipped:
        return 0
    for message in skipped:
        (warn or (lambda m: print(m, file=sys.stderr)))(message)
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, "w") as handle:
            handle.writelines(json.dumps(record, allow_nan=False) + "\n" for record in keep)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return dropped


def _series(records, section, key, task=None):
    """(iterations, values) of one quantity, NaN where it is null or absent."""
    xs, ys = [], []
    for record in records:
        values = record.get(section) or {}
        if task is not None:
            values = values.get(task) or {}
        if key in values:
            xs.append(record["iteration"])
            ys.append(float("nan") if values[key] is None else float(values[key]))
    return xs, ys


def _panels(records):
    """(title, [(label, xs, ys)], [(label, y) reference lines]) per panel, in drawing order."""
    num_classes = records[-1].get("num_classes") or 0
    panels = []
    if any("generated" in record for record in records):
        chance = [(f"chance 1/{num_classes}", 100.0 / num_classes)] if num_classes else []
        entropy_ref = [(f"ln {num_classes} (uniform)", math.log(num_classes))] if num_classes > 1 else []
        panels += [
            ("generated videos: accuracy %", [("acc", *_series(records, "generated", "acc"))], chance),
            ("generated videos: Inception score", [("IS", *_series(records, "generated", "I_score"))],
             [("1 (no information)", 1.0)] + ([(f"{num_classes} classes", float(num_classes))] if num_classes else [])),
            ("generated videos: Fréchet distance (classifier features)",
             [("frechet", *_series(records, "generated", "frechet"))], []),
            ("generated videos: entropies", [(key, *_series(records, "generated", key))
                                             for key in ("intra_E", "inter_E", "class_intra_E")], entropy_ref),
        ]
    tasks = {task for record in records for task in record.get("val", {})}
    for task in sorted(tasks, key=lambda t: (TASK_ORDER.index(t) if t in TASK_ORDER else len(TASK_ORDER), t)):
        keys = []
        for record in records:
            keys += [k for k in record["val"].get(task, {}) if k not in keys]
        recon = [k for k in RECONSTRUCTION_TERMS if k in keys]
        other = [k for k in keys if k not in RECONSTRUCTION_TERMS]
        if recon:
            panels.append((f"val {task}: reconstruction", [(k, *_series(records, "val", k, task)) for k in recon], []))
        if other:
            refs = ([(f"ln {num_classes} (chance CE)", math.log(num_classes))]
                    if num_classes > 1 and any(k.startswith("ce_") for k in other) else [])
            panels.append((f"val {task}: adversarial / class", [(k, *_series(records, "val", k, task))
                                                                  for k in other], refs))
    return panels


RUN_STYLES = ("-", "--", ":", "-.")


def _merged_panels(runs):
    """Panels of several runs `[(name, records)]` in one figure: per panel title, every run's curves
    (labelled `name: quantity` when there is more than one run), with the run's index for its style."""
    merged = {}
    for index, (name, records) in enumerate(runs):
        for title, lines, refs in _panels(records):
            panel = merged.setdefault(title, ([], refs))
            for label, xs, ys in lines:
                panel[0].append((f"{name}: {label}" if len(runs) > 1 else label, xs, ys, index))
    return [(title, lines, refs) for title, (lines, refs) in merged.items()]


def _draw_panel(ax, name, lines, refs):
    """One panel: its curves (colour by quantity, line style by run), dashed reference lines, integer
    iterations, log y when values span > 10x."""
    from matplotlib.ticker import MaxNLocator
    values = [y for _, _, ys, _ in lines for y in ys if math.isfinite(y)]
    quantities = []
    for label, xs, ys, run in lines:
        quantity = label.split(": ", 1)[-1]
        if quantity not in quantities:
            quantities.append(quantity)
        ax.plot(xs, ys, marker="o", markersize=3, linewidth=1.2, label=label,
                color=f"C{quantities.index(quantity) % 10}", linestyle=RUN_STYLES[run % len(RUN_STYLES)])
    for i, (label, y) in enumerate(refs):
        ax.axhline(y, color="grey", linestyle=("--", ":", "-.")[i % 3], linewidth=0.9, label=label)
    if values and min(values) > 0 and max(values) / min(values) > 10:
        ax.set_yscale("log")
    else:
        ax.ticklabel_format(axis="y", useOffset=False)
        span = [min(values + [y for _, y in refs]), max(values + [y for _, y in refs])] if values else None
        if span and span[1] - span[0] < 1e-3 * max(abs(span[0]), abs(span[1]), 1e-9):   # flat: no 1e-9 ticks
            pad = 0.05 * max(abs(span[1]), 1e-3)
            ax.set_ylim(span[0] - pad, span[1] + pad)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(name, fontsize=9)
    ax.set_xlabel("iteration", fontsize=8)
    ax.tick_params(which="both", labelsize=7)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6, ncol=2 if len(lines) + len(refs) > 4 else 1, framealpha=0.6)


def draw_curve(records, image_path, title=None, compare=()):
    """Draw the panels of `records` (see `read_records`) into `image_path` (PNG, written atomically).
    `compare`: other runs `[(name, records)]` drawn into the same panels (this run solid, theirs dashed,
    dotted, ...), their curves labelled by run name; `title` names this run."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    panels = _merged_panels([(title or "run", records)] + list(compare))
    if not panels:
        raise ValueError("the records hold no validation values")
    ncols = 1 if len(panels) == 1 else 2 if len(panels) <= 4 else 3
    nrows = -(-len(panels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 3.1 * nrows), squeeze=False)
    for ax, panel in zip(axes.flat, panels):
        _draw_panel(ax, *panel)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    last = records[-1]["iteration"]
    if compare:
        title = " vs ".join([title or "run"] + [name for name, _ in compare]) + f" ({'/'.join(RUN_STYLES[:len(compare) + 1])})"
    fig.suptitle(f"{title + ': ' if title else ''}{len(records)} validation(s), last at iteration {last}"
                 + ("" if any("generated" in r for r in records) else " (no --val_classifier: losses only)"),
                 fontsize=10)
    height = 3.1 * nrows   # fixed margins in inches: tight_layout would double the drawing time
    fig.subplots_adjust(left=0.55 / (4.6 * ncols), right=1 - 0.15 / (4.6 * ncols), bottom=0.45 / height,
                        top=1 - 0.8 / height, wspace=0.3, hspace=0.55)
    os.makedirs(os.path.dirname(os.path.abspath(image_path)), exist_ok=True)
    tmp = f"{image_path}.tmp{os.getpid()}"
    try:
        fig.savefig(tmp, format="png", dpi=90)
        os.replace(tmp, image_path)
    finally:
        plt.close(fig)
        if os.path.exists(tmp):
            os.remove(tmp)
    return image_path


class LearningCurve:
    """The learning curve of one run (rank 0): trims records after `start_iteration` on creation,
    then `add` appends one validation and redraws the PNG. `log(line)` reports problems; a failed
    write is reported, never raised, so that it cannot stop training."""

    def __init__(self, run_log_dir, num_classes, start_iteration, log=print):
        self.records_path, self.image_path = curve_paths(run_log_dir)
        self.num_classes, self.log = int(num_classes), log
        self.title = os.path.basename(os.path.normpath(run_log_dir))
        try:
            dropped = trim_records(self.records_path, start_iteration, warn=log)
        except OSError as error:
            log(f"warning: cannot rewrite {self.records_path} ({error.strerror or error})")
            dropped = 0
        if dropped:
            log(f"learning curve: dropped {dropped} record(s) after iteration {start_iteration} "
                f"left by the run this one replaces")
            self.redraw()

    def redraw(self):
        """Redraw the image from the records on disk (removed when none remain); True when drawn."""
        try:
            records = read_records(self.records_path, warn=self.log) if os.path.isfile(self.records_path) else []
            if records:
                draw_curve(records, self.image_path, self.title)
            elif os.path.isfile(self.image_path):
                os.remove(self.image_path)
            return bool(records)
        except (OSError, ValueError) as error:
            self.log(f"warning: cannot redraw {self.image_path} ({getattr(error, 'strerror', None) or error})")
            return False

    def add(self, iteration, summary):
        """Append the validation `summary` at `iteration` and redraw the image; True when both worked."""
        try:
            append_record(self.records_path, make_record(iteration, summary, self.num_classes))
        except OSError as error:
            self.log(f"warning: cannot append to {self.records_path} at iteration {iteration} "
                     f"({error.strerror or error})")
            return False
        return self.redraw()


def _load_run(parser, run_log_dir):
    """The records of one run's log folder; exits with a one-line error when there are none."""
    records_path, _ = curve_paths(run_log_dir)
    if not os.path.isdir(run_log_dir):
        parser.exit(2, f"{parser.prog}: error: {run_log_dir}: no such folder (expected a run's log folder, "
                       "<log_dir>/<exp_name>)\n")
    if not os.path.isfile(records_path):
        parser.exit(1, f"{parser.prog}: error: {records_path}: no such file (validation writes it; "
                       "the run has not validated yet?)\n")
    records = read_records(records_path)
    if not records:
        parser.exit(1, f"{parser.prog}: error: {records_path} holds no readable validation record\n")
    return records


def main(argv=None):
    """`python -m utils.evaluation.learning_curves RUN_LOG_DIR [--compare OTHER_RUN_LOG_DIR ...] [--out PNG]`: redraw
    the PNG from the records, with other runs' curves in the same panels when `--compare` names them."""
    parser = argparse.ArgumentParser(prog="python -m utils.evaluation.learning_curves",
                                     description="Redraw learning_curve.png from a run's learning_curve.jsonl.")
    parser.add_argument("run_log_dir", help="the run's log folder, <log_dir>/<exp_name>")
    parser.add_argument("--compare", nargs="+", default=[], metavar="RUN_LOG_DIR",
                        help="other runs' log folders drawn into the same panels (then --out is required)")
    parser.add_argument("--out", default=None, help="the PNG to write (default: <run_log_dir>/learning_curve.png)")
    args = parser.parse_args(argv)
    if args.compare and not args.out:
        parser.exit(2, f"{parser.prog}: error: --compare needs --out (the run's own learning_curve.png stays its own)\n")
    records = _load_run(parser, args.run_log_dir)
    name = lambda folder: os.path.basename(os.path.normpath(folder))  # noqa: E731
    others = [(name(folder), _load_run(parser, folder)) for folder in args.compare]
    image_path = args.out or curve_paths(args.run_log_dir)[1]
    try:
        path = draw_curve(records, image_path, name(args.run_log_dir), compare=others)
    except (OSError, ValueError) as error:
        parser.exit(1, f"{parser.prog}: error: cannot write {image_path} "
                       f"({getattr(error, 'strerror', None) or error})\n")
    runs = [(name(args.run_log_dir), records)] + others
    counts = [f"{len(r)} validations, last at iteration {r[-1]['iteration']}" for _, r in runs]
    print(f"learning curve: {path} (" + ("; ".join(f"{n}: {c}" for (n, _), c in zip(runs, counts))
                                         if others else counts[0]) + ")")
    return 0


if __name__ == "__main__":
    sys.exit(main())
