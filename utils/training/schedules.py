"""Linear schedules of TRAINING.md §3: ramps clamped outside their window.

The published windows (c_kl over 0 → 100 000; ε and the video KL over 150 000 → 400 000,
shifted by the pre-training) are the defaults of `--c_kl_iter_end`, `--video_iter_start`
and `--video_iter_end`, which exist so that short runs (the demo) can compress them.
"""
from dataclasses import dataclass



def linear_ramp(iteration, start_value, end_value, start_iter, end_iter):
    """Value at `iteration` of a ramp from `start_value` (at ≤ start_iter) to `end_value` (at ≥ end_iter)."""
    if iteration <= start_iter:
        return float(start_value)
    if iteration >= end_iter:
        return float(end_value)
    fraction = (iteration - start_iter) / (end_iter - start_iter)
    return float(start_value + (end_value - start_value) * fraction)


@dataclass(frozen=True)
class Schedules:
    """Every scheduled quantity as a function of the iteration (`P = pretrain_iters`)."""
    pretrain_iters: int
    c_kl_iter_end: int
    video_iter_start: int
    video_iter_end: int
    c_kl_start: float
    c_kl_end: float
    vid_m_kl_start: float
    vid_m_kl_end: float
    cont_ratio_start: float
    cont_ratio_end: float
    cont_ratio_iter_start: int
    cont_ratio_iter_end: int
    motion_ratio_start: float
    motion_ratio_end: float
    motion_ratio_iter_start: int
    motion_ratio_iter_end: int

    @classmethod
    def from_config(cls, config):
        """Build from a config mapping/namespace holding the option names of TRAINING.md §5."""
        get = config.get if isinstance(config, dict) else lambda k: getattr(config, k)
        return cls(**{name: get(name) for name in cls.__dataclass_fields__})

    def c_kl(self, it):
        return linear_ramp(it, self.c_kl_start, self.c_kl_end, 0, self.c_kl_iter_end)

    def m_kl(self, it):
        p = self.pretrain_iters
        return linear_ramp(it, self.vid_m_kl_start, self.vid_m_kl_end, self.video_iter_start + p,
                           self.video_iter_end + p)

    def epsilon(self, it):
        p = self.pretrain_iters
        return linear_ramp(it, 1.0, 0.0, self.video_iter_start + p, self.video_iter_end + p)

    def cont_ratio(self, it):
        p = self.pretrain_iters
        return linear_ramp(it, self.cont_ratio_start, self.cont_ratio_end,
                           self.cont_ratio_iter_start + p, self.cont_ratio_iter_end + p)

    def motion_ratio(self, it):
        p = self.pretrain_iters
        return linear_ramp(it, self.motion_ratio_start, self.motion_ratio_end,
                           self.motion_ratio_iter_start + p, self.motion_ratio_iter_end + p)

    def task(self, it, rng):
        """The task of iteration `it` (after the increment): 'pretrain', 'content', 'frame' or 'video'.

        Outside pre-training draws `r1, r2 = rng.random(), rng.random()` (TRAINING.md §4).
        """
        if it < self.pretrain_iters:
            return "pretrain"
        r1, r2 = rng.random(), rng.random()
        if r1 > self.cont_ratio(it):
            return "content"
        if r2 > self.motion_ratio(it):
            return "frame"
        return "video"
