"""Schedules of TRAINING.md §3 at and around their window ends, and the task draw of §4."""
import random

import pytest

from utils.training.schedules import Schedules, linear_ramp

P = 300


def make(**overrides):
    values = dict(pretrain_iters=P, c_kl_iter_end=100_000, video_iter_start=150_000, video_iter_end=400_000,
                  c_kl_start=0.0, c_kl_end=7.0, vid_m_kl_start=2.0, vid_m_kl_end=20.0,
                  cont_ratio_start=0.4, cont_ratio_end=0.2, cont_ratio_iter_start=10, cont_ratio_iter_end=110,
                  motion_ratio_start=0.1, motion_ratio_end=0.9, motion_ratio_iter_start=0,
                  motion_ratio_iter_end=150_000)
    values.update(overrides)
    return Schedules(**values)


def test_linear_ramp_clamped():
    assert linear_ramp(-5, 1, 3, 0, 10) == 1
    assert linear_ramp(0, 1, 3, 0, 10) == 1
    assert linear_ramp(5, 1, 3, 0, 10) == 2
    assert linear_ramp(10, 1, 3, 0, 10) == 3
    assert linear_ramp(11, 1, 3, 0, 10) == 3
    assert linear_ramp(5, 1, 3, 5, 5) == 1 and linear_ramp(6, 1, 3, 5, 5) == 3  # empty window: a step


def test_c_kl_window_0_to_100k():
    s = make()
    assert s.c_kl(0) == 0
    assert s.c_kl(1) == pytest.approx(7 / 100_000)
    assert s.c_kl(50_000) == pytest.approx(3.5)
    assert s.c_kl(99_999) == pytest.approx(7 * 99_999 / 100_000)
    assert s.c_kl(100_000) == 7 and s.c_kl(10 ** 6) == 7


@pytest.mark.parametrize("it,eps,mkl", [
    (0, 1.0, 2.0), (150_000 + P, 1.0, 2.0), (150_001 + P, 1 - 1 / 250_000, 2 + 18 / 250_000),
    (275_000 + P, 0.5, 11.0), (399_999 + P, 1 / 250_000, 20 - 18 / 250_000), (400_000 + P, 0.0, 20.0),
    (900_000, 0.0, 20.0)])
def test_epsilon_and_video_kl_shifted_by_pretraining(it, eps, mkl):
    s = make()
    assert s.epsilon(it) == pytest.approx(eps, abs=1e-12)
    assert s.m_kl(it) == pytest.approx(mkl, abs=1e-9)


def test_ratio_windows_shifted_by_pretraining():
    s = make()
    assert s.cont_ratio(10 + P) == pytest.approx(0.4)
    assert s.cont_ratio(60 + P) == pytest.approx(0.3)
    assert s.cont_ratio(110 + P) == pytest.approx(0.2) and s.cont_ratio(10 ** 6) == pytest.approx(0.2)
    assert s.motion_ratio(P) == pytest.approx(0.1)
    assert s.motion_ratio(75_000 + P) == pytest.approx(0.5)
    assert s.motion_ratio(150_000 + P) == pytest.approx(0.9)


class FixedDraws:
    def __init__(self, values):
        self.values = list(values)

    def random(self):
        return self.values.pop(0)


def test_task_draw_rule():
    s = make(pretrain_iters=5, cont_ratio_start=0.4, cont_ratio_end=0.4, motion_ratio_start=0.3,
             motion_ratio_end=0.3)
    assert s.task(4, FixedDraws([])) == "pretrain"  # no draw consumed during pre-training
    assert s.task(5, FixedDraws([0.41, 0.0])) == "content"
    assert s.task(5, FixedDraws([0.40, 0.31])) == "frame"
    assert s.task(5, FixedDraws([0.1, 0.30])) == "video"


def test_published_task_mix():
    s = make(pretrain_iters=0, cont_ratio_start=0.4, cont_ratio_end=0.4)
    rng = random.Random(0)
    early = [s.task(1, rng) for _ in range(20000)]
    late = [s.task(10 ** 6, rng) for _ in range(20000)]
    assert early.count("content") / 20000 == pytest.approx(0.6, abs=0.02)
    assert early.count("video") / early.count("frame") == pytest.approx(0.1 / 0.9, rel=0.1)
    assert late.count("video") / late.count("frame") == pytest.approx(0.9 / 0.1, rel=0.1)


def test_published_windows_are_the_option_defaults():
    from utils.training.options import parse_train_options
    config = parse_train_options(["--dataset", "MUG", "--dataroot", "/tmp"])
    s = Schedules.from_config(config)
    assert (s.c_kl_iter_end, s.video_iter_start, s.video_iter_end) == (100_000, 150_000, 400_000)


def test_compressed_windows():
    s = make(pretrain_iters=10, c_kl_iter_end=20, video_iter_start=30, video_iter_end=50)
    assert s.c_kl(10) == pytest.approx(3.5)
    assert s.epsilon(40) == 1.0 and s.epsilon(50) == pytest.approx(0.5) and s.epsilon(60) == 0.0
    assert s.m_kl(50) == pytest.approx(11.0)
