"""utils.tools.learning_goals: the learning check's verdict from eval.py's metrics and the classifier's results."""
import json

import numpy as np
import pytest

from datasets import synthetic
from utils.tools import learning_goals

REAL_LINE = ("2026-12-02 01:00:00 classifier=/x/Demo/best.pth iter=400 dataset=synthetic clips=48 acc=95.8333 I_score=3.1234 "
             "intra_E=0.2000 inter_E=1.3800\n")


def write_run(root, uncond, cond, with_videos=False):
    """An eval.py-like iteration folder with the two protocols' metrics.json (and class .npy videos)."""
    iteration = root / "iter_100"
    for protocol, metrics in (("unconditional", uncond), ("conditional", cond)):
        (iteration / protocol).mkdir(parents=True)
        (iteration / protocol / "metrics.json").write_text(json.dumps({"protocol": protocol, "metrics": metrics}))
    if with_videos:   # real synthetic videos: every object moves its class's way; `down` given as `up`
        rng = np.random.default_rng(0)
        for c, name in enumerate(synthetic.CLASSES):
            shown = synthetic.CLASSES.index("up") if name == "down" else c
            videos = np.stack([synthetic.render_video(shown, i % 6, rng, 10, "plain") for i in range(3)])
            np.save(iteration / "unconditional" / f"{name}.npy", videos)          # [N, T, H, W, C] uint8
    results = root / "results.txt"
    results.write_text("an older line acc=10.0 I_score=1.0\n" + REAL_LINE)
    return iteration, results


def test_every_goal_met_exits_0_and_prints_the_real_clips_is(tmp_path, capsys):
    iteration, results = write_run(tmp_path, {"acc": 85.0, "I_score": 2.6}, {"acc": 70.0, "I_score": 2.0})
    assert learning_goals.main([str(iteration), "--classifier_results", str(results)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == ("met      unconditional accuracy ≥ 80 % with IS ≥ 2.5: 85.0 %, IS 2.600 "
                      "(real test clips: IS 3.123)")
    assert out[1] == "met      conditional accuracy ≥ 70 %: 70.0 %, IS 2.000"
    assert out[2] == "met      classifier on the real test clips ≥ 90 %: 95.8 %"
    assert out[-1] == "all goals met"


@pytest.mark.parametrize("uncond, cond", [({"acc": 85.0, "I_score": 2.4}, {"acc": 90.0, "I_score": 3.0}),
                                          ({"acc": 79.9, "I_score": 3.0}, {"acc": 90.0, "I_score": 3.0}),
                                          ({"acc": 90.0, "I_score": 3.0}, {"acc": 69.9, "I_score": 3.0})])
def test_one_goal_missed_exits_1_and_says_which(tmp_path, capsys, uncond, cond):
    iteration, results = write_run(tmp_path, uncond, cond)
    assert learning_goals.main([str(iteration), "--classifier_results", str(results)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert sum(line.startswith("NOT met") for line in out) == 1 and out[-1] == "goals not met"


def test_the_direction_share_is_measured_on_the_unconditional_videos(tmp_path, capsys):
    iteration, results = write_run(tmp_path, {"acc": 50.0, "I_score": 1.5}, {"acc": 50.0, "I_score": 1.5},
                                   with_videos=True)
    assert learning_goals.main([str(iteration), "--classifier_results", str(results)]) == 1
    out = capsys.readouterr().out
    assert "(utils.evaluation.motion_direction): 75.0 %" in out      # 3 of the 4 classes move their way


def test_missing_inputs_are_one_line_errors(tmp_path, capsys):
    iteration, results = write_run(tmp_path, {"acc": 50.0, "I_score": 1.5}, {"acc": 50.0, "I_score": 1.5})
    (iteration / "conditional" / "metrics.json").unlink()
    assert learning_goals.main([str(iteration), "--classifier_results", str(results)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("conditional/metrics.json: missing (was the conditional protocol scored with a classifier?)")
    (iteration / "conditional" / "metrics.json").write_text('{"metrics": {}}')
    assert learning_goals.main([str(iteration), "--classifier_results", str(results)]) == 2
    assert "conditional/metrics.json: no accuracy and IS" in capsys.readouterr().err
    (iteration / "conditional" / "metrics.json").write_text('{"metrics": {"acc": 1.0, "I_score": 1.0}}')
    results.write_text("nothing scored\n")
    assert learning_goals.main([str(iteration), "--classifier_results", str(results)]) == 2
    assert "no classifier results line" in capsys.readouterr().err


def test_the_real_clips_line_skips_altered_clips(tmp_path, capsys):
    iteration, results = write_run(tmp_path, {"acc": 85.0, "I_score": 2.6}, {"acc": 70.0, "I_score": 2.0})
    with open(results, "a") as handle:   # eval_classifier --clip_transform reversed, appended after the real line
        handle.write(REAL_LINE.replace("dataset=synthetic", "dataset=synthetic clip_transform=reversed")
                     .replace("acc=95.8333 I_score=3.1234", "acc=0.0000 I_score=3.9000"))
    assert learning_goals.real_clip_scores(str(results)) == {"acc": 95.8333, "I_score": 3.1234}
    assert learning_goals.main([str(iteration), "--classifier_results", str(results)]) == 0
