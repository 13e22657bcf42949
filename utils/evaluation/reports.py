"""What eval.py writes about a scored protocol: the results line, metrics JSON and the confusion matrix.

`python -m utils.evaluation.reports DIR` prints one summary line per protocol found under DIR (an
`iter_<N>` folder of eval.py's output), from its `metrics.json`; the demo ends with it.
"""
import json
import math
import os
import sys
import time

import numpy as np

RESULTS_NAME = "results.txt"
METRICS_NAME = "metrics.json"
CONFUSION_NAME = "confusion.png"
LINE_METRICS = ("acc", "I_score", "intra_E", "inter_E", "class_intra_E", "frechet", "fvd")
PROTOCOLS = ("unconditional", "conditional")


def results_line(protocol, iteration, n_videos, metrics, exp_name, classifier, per_action=None):
    """One results line naming every metric (fvd only when computed) and, given `per_action`
    ({predicted action name: class-aware intra-entropy}), `class_intra_E[<name>]=<value>` for each;
    returns a str without newline."""
    values = " ".join(f"{name}={metrics[name]:.4f}" for name in LINE_METRICS if name in metrics)
    groups = "".join(f" class_intra_E[{name}]={value:.4f}" for name, value in (per_action or {}).items())
    return (f"exp={exp_name} protocol={protocol} iter={iteration} videos={n_videos} {values}{groups} "
            f"classifier={classifier}")


def _atomic_write(path, write):
    """Call `write(handle)` on a temporary file beside `path`, then rename it to `path`."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, "wb") as handle:
            write(handle)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _plain(value):
    """JSON-safe copy: NumPy scalars/arrays to Python, NaN and infinities to None."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(path, data):
    """Write `data` (dicts, lists, numbers, NumPy values; non-finite -> null) as JSON, atomically."""
    text = json.dumps(_plain(data), indent=2, sort_keys=True) + "\n"
    _atomic_write(path, lambda handle: handle.write(text.encode()))


def confusion(labels, predicted, n_actions):
    """Counts `[n_actions, n_actions]` (int array): rows = the action generated for, cols = predicted."""
    from sklearn.metrics import confusion_matrix
    return confusion_matrix(np.asarray(labels) % n_actions, np.asarray(predicted), labels=list(range(n_actions)))


def save_confusion_png(path, matrix, classes, title):
    """Draw a confusion matrix (counts, rows normalised for the colours) with matplotlib's Agg canvas
    and write it to `path` as PNG, atomically."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    matrix = np.asarray(matrix)
    n = len(classes)
    side = 2.0 + 0.55 * n
    figure = Figure(figsize=(side + 1.0, side))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    rates = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    image = axes.imshow(rates, cmap="Blues", vmin=0.0, vmax=1.0)
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04, label="fraction of the row")
    for row in range(n):
        for col in range(n):
            axes.text(col, row, str(int(matrix[row, col])), ha="center", va="center", fontsize=8,
                      color="white" if rates[row, col] > 0.5 else "black")
    axes.set_xticks(range(n), labels=classes, rotation=45, ha="right")
    axes.set_yticks(range(n), labels=classes)
    axes.set_xlabel("predicted action")
    axes.set_ylabel("generated for")
    axes.set_title(title, fontsize=9)
    figure.tight_layout()
    _atomic_write(path, lambda handle: figure.savefig(handle, format="png", dpi=100))


def write_report(directory, results_file, protocol, iteration, config, classes, metrics, labels, predicted,
                 scorer_info, per_action=None):
    """Write one scored protocol: `<directory>/confusion.png`, `<directory>/metrics.json`, and a line
    appended to `results_file`. scorer_info: dict with classifier, classifier_iteration, i3d,
    real_clips, stats_cache; per_action: {predicted action name: class-aware intra-entropy} (EVAL.md,
    the actions predicted at least once; `class_intra_E` is their mean), written as
    `class_intra_E_per_action`. Returns the results line (without the date)."""
    n_videos = len(labels)
    matrix = confusion(labels, predicted, len(classes))
    png = os.path.join(directory, CONFUSION_NAME)
    save_confusion_png(png, matrix, classes, f"{config['exp_name']} {protocol}, iteration {iteration}: "
                                             f"acc {metrics['acc']:.1f} %")
    line = results_line(protocol, iteration, n_videos, metrics, config["exp_name"], scorer_info["classifier"],
                        per_action)
    write_json(os.path.join(directory, METRICS_NAME), {
        "exp_name": config["exp_name"], "dataset": config["dataset"], "protocol": protocol, "iteration": iteration,
        "videos": n_videos, "metrics": metrics, "class_intra_E_per_action": dict(per_action or {}),
        "classes": list(classes), "confusion_matrix": matrix,
        "confusion_png": png, "results_file": results_file, "seed": config["seed"], **scorer_info})
    os.makedirs(os.path.dirname(os.path.abspath(results_file)), exist_ok=True)
    with open(results_file, "a") as handle:
        handle.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}\n")
    return line


def summary_lines(iter_dir):
    """One human-readable line per protocol with a metrics.json under `iter_dir`; returns a list of str."""
    lines = []
    for protocol in PROTOCOLS:
        path = os.path.join(iter_dir, protocol, METRICS_NAME)
        if not os.path.isfile(path):
            continue
        with open(path) as handle:
            data = json.load(handle)
        m = {k: (float("nan") if v is None else v) for k, v in data["metrics"].items()}
        text = (f"{protocol:<13} ({data['videos']} videos, iteration {data['iteration']}): accuracy {m['acc']:.1f} %, "
                f"IS {m['I_score']:.3f}, intra-E {m['intra_E']:.3f}, inter-E {m['inter_E']:.3f}, "
                f"Fréchet {m['frechet']:.4g}")
        lines.append(text + (f", FVD {m['fvd']:.4g}" if "fvd" in m else ""))
    return lines


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: python -m utils.evaluation.reports ITER_DIR", file=sys.stderr)
        sys.exit(2)
    found = summary_lines(sys.argv[1])
    print("\n".join(found) if found else f"no {METRICS_NAME} under {sys.argv[1]} (was eval.py run with --classifier?)")
