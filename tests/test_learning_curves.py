"""Learning curves (utils.evaluation.learning_curves): records, torn lines, resume trimming, the PNG, the CLI
and the hook in the training loop."""
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO_ROOT
from utils.evaluation.learning_curves import (CURVE_IMAGE, CURVE_RECORDS, LearningCurve, append_record, draw_curve,
                                   make_record, read_records, trim_records)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def summary(iteration, scored=True, tasks=("content", "frame", "video")):
    """A summary shaped like `validate`'s: losses per task and, when scored, 'generated'."""
    out = {task: {"mse": 0.3 / iteration, "kl": 1.0 + iteration, "g_random": 0.7, "d_real": 0.6,
                  **({"ce_real": 1.3} if task == "video" else {})} for task in tasks}
    if scored:
        out["generated"] = {"acc": 10.0 * iteration, "I_score": 1.0 + 0.1 * iteration, "intra_E": 1.3,
                            "inter_E": 1.38, "class_intra_E": 1.2, "frechet": float("nan") if iteration == 1 else 50.0}
    return out


def png_pixels(path):
    import matplotlib.image
    data = open(path, "rb").read()
    assert data[:8] == PNG_MAGIC and len(data) > 1000
    return matplotlib.image.imread(path)


def test_records_appended_and_read_back(tmp_path):
    path = str(tmp_path / "run" / CURVE_RECORDS)
    for iteration in (4, 2):
        append_record(path, make_record(iteration, summary(iteration), 4, wall_time=100 + iteration))
    append_record(path, make_record(6, summary(6, scored=False, tasks=("content",)), 4))
    records = read_records(path)
    assert [r["iteration"] for r in records] == [2, 4, 6]          # sorted by iteration
    assert records[0]["time"] == 102 and records[0]["num_classes"] == 4
    assert records[1]["val"]["video"]["ce_real"] == 1.3 and records[1]["generated"]["acc"] == 40.0
    assert "generated" not in records[2] and list(records[2]["val"]) == ["content"]
    nan_record = make_record(1, summary(1), 4)
    assert nan_record["generated"]["frechet"] is None                # NaN stored as null (strict JSON)
    append_record(path, nan_record)
    assert all(json.loads(line) for line in open(path))


def test_torn_line_is_skipped_with_a_warning_and_not_glued_to_the_next(tmp_path):
    path = str(tmp_path / CURVE_RECORDS)
    append_record(path, make_record(2, summary(2), 4))
    with open(path, "a") as handle:
        handle.write('{"iteration": 4, "time": 1, "val": {"cont')   # a crash mid-write
    warnings = []
    assert [r["iteration"] for r in read_records(path, warn=warnings.append)] == [2]
    assert len(warnings) == 1 and "line 2 is torn" in warnings[0]
    append_record(path, make_record(6, summary(6), 4))                # starts on a line of its own
    warnings.clear()
    assert [r["iteration"] for r in read_records(path, warn=warnings.append)] == [2, 6]
    assert len(warnings) == 1 and "line 2" in warnings[0]
    assert trim_records(path, 100, warn=warnings.append) == 0         # cleaned: the torn line is gone
    warnings.clear()
    assert [r["iteration"] for r in read_records(path, warn=warnings.append)] == [2, 6] and not warnings


def test_resume_drops_records_after_the_resumed_iteration(tmp_path):
    run = tmp_path / "run"
    lines = []
    curve = LearningCurve(str(run), 4, 0, log=lines.append)
    for iteration in (2, 4, 6, 8):    # a run that crashed after validating at 8; its last checkpoint: 4
        assert curve.add(iteration, summary(iteration))
    resumed = LearningCurve(str(run), 4, 4, log=lines.append)
    assert [r["iteration"] for r in read_records(resumed.records_path)] == [2, 4]
    assert any("dropped 2 record(s) after iteration 4" in line for line in lines)
    first_time = read_records(resumed.records_path)[1]["time"]
    resumed.add(6, summary(6, scored=False))
    records = read_records(resumed.records_path)
    assert [r["iteration"] for r in records] == [2, 4, 6] and records[1]["time"] == first_time
    assert "generated" not in records[2]                              # the new run's record, not the old one
    lines.clear()
    LearningCurve(str(run), 4, 6, log=lines.append)                   # nothing after 6: file untouched
    assert not lines and len(open(resumed.records_path).read().splitlines()) == 3
    LearningCurve(str(run), 4, 0, log=lines.append)                   # a fresh start replaces the curve
    assert not os.path.exists(resumed.records_path) or read_records(resumed.records_path) == []
    assert not os.path.exists(resumed.image_path)


def test_last_record_per_iteration_wins(tmp_path):
    path = str(tmp_path / CURVE_RECORDS)
    append_record(path, make_record(4, summary(4), 4, wall_time=1))
    append_record(path, make_record(4, summary(4, scored=False), 4, wall_time=2))
    (record,) = read_records(path)
    assert record["time"] == 2 and "generated" not in record


@pytest.mark.parametrize("scored", [True, False])
def test_png_is_written_atomically_and_shows_the_curves(tmp_path, scored):
    records = [make_record(i, summary(i, scored=scored, tasks=("content",) if i < 3 else ("content", "frame",
                                                                                         "video")), 4)
               for i in (1, 2, 3, 4, 5)]
    image = tmp_path / "out" / CURVE_IMAGE
    assert draw_curve(records, str(image), "demo") == str(image)
    pixels = png_pixels(image)
    assert pixels.shape[0] > 200 and pixels.shape[1] > 400
    assert np.ptp(pixels[..., :3]) > 0.5 and (pixels[..., :3] < 0.5).mean() > 0.005   # drawn, not blank
    assert os.listdir(tmp_path / "out") == [CURVE_IMAGE]                 # no temporary file left
    if scored:   # 4 scoring panels + 2 per task = 10 panels (3 columns) vs 6 (3 columns) unscored: taller
        assert pixels.shape[0] > 3 * 3.1 * 90 * 0.9
    else:
        assert pixels.shape[0] < 3 * 3.1 * 90 * 0.9
    with pytest.raises(ValueError, match="no validation values"):
        draw_curve([{"iteration": 1, "val": {}}], str(tmp_path / "empty.png"))


def test_panels_cover_each_quantity_and_the_chance_level():
    from utils.evaluation.learning_curves import _panels
    panels = _panels([make_record(i, summary(i), 4) for i in (1, 2)])
    titles = [title for title, _, _ in panels]
    assert titles[:4] == ["generated videos: accuracy %", "generated videos: Inception score",
                          "generated videos: Fréchet distance (classifier features)", "generated videos: entropies"]
    assert titles[4:] == [f"val {task}: {kind}" for task in ("content", "frame", "video")
                          for kind in ("reconstruction", "adversarial / class")]
    assert panels[0][2] == [("chance 1/4", 25.0)]
    label, xs, ys = panels[2][1][0]
    assert xs == [1, 2] and math.isnan(ys[0]) and ys[1] == 50.0
    assert ("ln 4 (chance CE)", math.log(4)) in panels[-1][2]
    assert [label for label, _, _ in panels[4][1]] == ["mse", "kl"]


def cli(*args):
    return subprocess.run([sys.executable, "-m", "utils.evaluation.learning_curves", *args], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=120)


def test_cli_redraws_and_reports_errors_in_one_line(tmp_path):
    missing = cli(str(tmp_path / "nope"))
    assert missing.returncode == 2 and "no such folder" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1 and "Traceback" not in missing.stderr
    run = tmp_path / "run"
    run.mkdir()
    no_file = cli(str(run))
    assert no_file.returncode == 1 and CURVE_RECORDS in no_file.stderr and len(no_file.stderr.splitlines()) == 1
    (run / CURVE_RECORDS).write_text('{"iteration": 3, "val": {"co')
    torn_only = cli(str(run))
    assert torn_only.returncode == 1 and "no readable validation record" in torn_only.stderr
    assert "Traceback" not in torn_only.stderr
    (run / CURVE_RECORDS).unlink()
    for iteration in (2, 4):
        append_record(str(run / CURVE_RECORDS), make_record(iteration, summary(iteration), 4))
    ok = cli(str(run))
    assert ok.returncode == 0 and f"learning curve: {run / CURVE_IMAGE} (2 validations" in ok.stdout
    png_pixels(run / CURVE_IMAGE)
    elsewhere = cli(str(run), "--out", str(tmp_path / "copy.png"))
    assert elsewhere.returncode == 0 and (tmp_path / "copy.png").read_bytes()[:8] == PNG_MAGIC


def test_compare_draws_every_run_into_the_same_panels(tmp_path):
    from utils.evaluation.learning_curves import _merged_panels
    first = [make_record(i, summary(i), 4) for i in (1, 2)]
    second = [make_record(i, summary(i, tasks=("content", "frame")), 4) for i in (2, 3)]
    panels = dict((title, lines) for title, lines, _ in _merged_panels([("a", first), ("b", second)]))
    accuracy = panels["generated videos: accuracy %"]
    assert [(label, xs, run) for label, xs, _, run in accuracy] == [("a: acc", [1, 2], 0), ("b: acc", [2, 3], 1)]
    assert [label for label, *_ in panels["val video: reconstruction"]] == ["a: mse", "a: kl"]   # only a has video
    alone = _merged_panels([("a", first)])
    assert [label for label, *_ in alone[0][1]] == ["acc"]                    # one run: plain labels
    runs = []
    for name, records in (("a", first), ("b", second)):
        (tmp_path / name).mkdir()
        for record in records:
            append_record(str(tmp_path / name / CURVE_RECORDS), record)
        runs.append(str(tmp_path / name))
    needs_out = cli(runs[0], "--compare", runs[1])
    assert needs_out.returncode == 2 and "--compare needs --out" in needs_out.stderr
    missing = cli(runs[0], "--compare", str(tmp_path / "nope"), "--out", str(tmp_path / "both.png"))
    assert missing.returncode == 2 and "nope: no such folder" in missing.stderr and "Traceback" not in missing.stderr
    both = cli(runs[0], "--compare", runs[1], "--out", str(tmp_path / "both.png"))
    assert both.returncode == 0, both.stderr
    assert "a: 2 validations, last at iteration 2; b: 2 validations, last at iteration 3" in both.stdout
    png_pixels(tmp_path / "both.png")
    assert not (tmp_path / "a" / CURVE_IMAGE).exists()                       # the run's own PNG untouched


def test_curve_never_stops_training_on_a_write_error(tmp_path):
    lines = []
    blocker = tmp_path / "file"
    blocker.write_text("x")
    curve = LearningCurve(str(blocker / "run"), 4, 0, log=lines.append)   # a log folder under a file
    assert curve.add(2, summary(2)) is False and "cannot append" in lines[-1]


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    from datasets import synthetic
    root = tmp_path_factory.mktemp("curves") / "data"
    synthetic.generate(str(root), seed=0, videos_per_class=5, n_frames=12)
    return str(root)


@pytest.mark.slow
@pytest.mark.parametrize("with_classifier", [False, True])
def test_training_writes_one_record_per_validation(tmp_path, tiny_data, monkeypatch, capsys, with_classifier):
    import train
    import utils.evaluation.video_scoring as video_scoring
    from test_eval_scoring import save_tiny_classifier
    monkeypatch.setattr(video_scoring, "VALIDATION_PER_CLASS", 2)   # 32 per class in real runs
    extra = ["--val_classifier", save_tiny_classifier(tmp_path / "clf.pth")] if with_classifier else []
    common = ["--dataset", "synthetic", "--dataroot", tiny_data, "--exp_name", "lc", "--cont_dim", "16",
              "--motion_dim", "8", "--gf_dim", "4", "--image_ndf", "4", "--video_ndf", "4", "--batch_size", "2",
              "--joint", "--threads", "1", "--log_dir", str(tmp_path / "logs"), "--checkpoint_dir",
              str(tmp_path / "ckpt"), "--output_dir", str(tmp_path / "out"), "--pretrain_iters", "3",
              "--print_freq", "2", "--val_freq", "2", "--save_freq", "100", "--val_batches", "1", *extra]
    train.main(common + ["--total_iters", "6"])
    run = tmp_path / "logs" / "lc"
    out = capsys.readouterr().out
    assert f"learning curve: {run / CURVE_IMAGE}" in out
    records = read_records(str(run / CURVE_RECORDS))
    assert [r["iteration"] for r in records] == [2, 4, 6]
    assert list(records[0]["val"]) == ["content"] and list(records[1]["val"]) == ["content", "frame", "video"]
    # generated videos are scored after pre-training only (validation at 2 is during it)
    assert [("generated" in r) for r in records] == [False, with_classifier, with_classifier]
    if with_classifier:
        assert set(records[2]["generated"]) == {"acc", "I_score", "intra_E", "inter_E", "class_intra_E", "frechet"}
    png_pixels(run / CURVE_IMAGE)
    # a crash after validating at 8 and 10 (records written, no checkpoint): resume from latest (6)
    for iteration in (8, 10):
        append_record(str(run / CURVE_RECORDS), make_record(iteration, summary(iteration), 4, wall_time=0))
    train.main(common + ["--total_iters", "8", "--resume"])
    assert "dropped 2 record(s) after iteration 6" in capsys.readouterr().out
    records = read_records(str(run / CURVE_RECORDS))
    assert [r["iteration"] for r in records] == [2, 4, 6, 8] and records[3]["time"] > 0
    assert len(open(run / CURVE_RECORDS).read().splitlines()) == 4
