"""The learning check's verdict: the scored protocols of one eval.py run against the goals.

`python -m utils.tools.learning_goals <results>/iter_N --classifier_results <classifier results.txt>`
prints one line per goal (value, goal, met or not), the real test clips' accuracy and IS beside the
generated videos' (the 4-class IS is at most 4), and the share of unconditional videos whose object
moves in its class's direction (`utils.evaluation.motion_direction`, no network); exit status 0 when every goal
is met, 1 otherwise, 2 on a usage error.
"""
import argparse
import json
import os
import re
import sys

from utils.evaluation.motion_direction import folder_direction_accuracy
from utils.evaluation.reports import METRICS_NAME

GOALS = dict(unconditional_acc=80.0, unconditional_is=2.5, conditional_acc=70.0, real_acc=90.0)  # accuracies in %


def real_clip_scores(results_file):
    """Last classifier results line of `results_file` on unaltered clips (lines with `clip_transform=`
    skipped) -> `{'acc': float (%), 'I_score': float}`."""
    with open(results_file) as handle:
        lines = [line for line in handle if "acc=" in line and "clip_transform=" not in line]
    if not lines:
        raise ValueError(f"{results_file}: no classifier results line (acc=...)")
    values = dict(re.findall(r"(\w+)=([-+0-9.eE]+)", lines[-1]))
    return {name: float(values[name]) for name in ("acc", "I_score") if name in values}


def protocol_metrics(iteration_dir, protocol):
    """The metrics (`acc` in %, `I_score`, ...) of `<iteration_dir>/<protocol>/metrics.json`; a missing file or
    one without them -> ValueError naming it."""
    path = os.path.join(iteration_dir, protocol, METRICS_NAME)
    if not os.path.isfile(path):
        raise ValueError(f"{path}: missing (was the {protocol} protocol scored with a classifier?)")
    with open(path) as handle:
        metrics = json.load(handle).get("metrics", {})
    if any(name not in metrics for name in ("acc", "I_score")):
        raise ValueError(f"{path}: no accuracy and IS (was the {protocol} protocol scored with a classifier?)")
    return metrics


def verdict_lines(uncond, cond, real, direction=None, goals=GOALS):
    """Metrics dicts of the two protocols and the real clips -> `(lines, all goals met)`."""
    checks = [
        (f"unconditional accuracy ≥ {goals['unconditional_acc']:g} % with IS ≥ {goals['unconditional_is']}",
         f"{uncond['acc']:.1f} %, IS {uncond['I_score']:.3f} (real test clips: IS {real.get('I_score', float('nan')):.3f})",
         uncond["acc"] >= goals["unconditional_acc"] and uncond["I_score"] >= goals["unconditional_is"]),
        (f"conditional accuracy ≥ {goals['conditional_acc']:g} %", f"{cond['acc']:.1f} %, IS {cond['I_score']:.3f}",
         cond["acc"] >= goals["conditional_acc"]),
        (f"classifier on the real test clips ≥ {goals['real_acc']:g} %", f"{real['acc']:.1f} %",
         real["acc"] >= goals["real_acc"]),
    ]
    lines = [f"{'met    ' if ok else 'NOT met'}  {goal}: {value}" for goal, value, ok in checks]
    if direction is not None:
        lines.append(f"         unconditional videos whose object moves in its class's direction "
                     f"(utils.evaluation.motion_direction): {100 * direction:.1f} %")
    return lines, all(ok for _, _, ok in checks)


def unconditional_direction(iteration_dir):
    """Share of the unconditional protocol's videos moving in their class's direction, or None."""
    results = folder_direction_accuracy(os.path.join(iteration_dir, "unconditional"))
    total = sum(count for *_, count in results)
    return sum(accuracy * count for _, accuracy, _, count in results) / total if total else None


def main(argv=None):
    """Print the verdict lines; 0 when every goal is met, 1 otherwise, 2 on a usage error."""
    parser = argparse.ArgumentParser(prog="python -m utils.tools.learning_goals", description=__doc__.split("\n")[0])
    parser.add_argument("iteration_dir", help="an eval.py output folder <results>/<exp>/iter_N")
    parser.add_argument("--classifier_results", required=True,
                        help="the evaluation classifier's results.txt (its last line: scores on the real test clips)")
    args = parser.parse_args(argv)
    try:
        uncond = protocol_metrics(args.iteration_dir, "unconditional")
        cond = protocol_metrics(args.iteration_dir, "conditional")
        real = real_clip_scores(args.classifier_results)
    except (OSError, ValueError) as error:
        print(f"python -m utils.tools.learning_goals: error: {error}", file=sys.stderr)
        return 2
    lines, met = verdict_lines(uncond, cond, real, unconditional_direction(args.iteration_dir))
    print("\n".join(lines))
    print("all goals met" if met else "goals not met")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
