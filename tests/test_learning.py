"""Learning test (slow, ~2 min on 2 idle cores): what the demo's networks learn within minutes, trained
through the project's own step (`utils.training.loop.train_step`) in the demo's configuration on a
small synthetic set, measured directly on the pixels (no network):

* content pre-training: held-out frames are reconstructed (eval mode, posterior means) better than
  by each frame's mean colour; the width-8 decoder's plateau (the data's average image) is not;
* frame tasks after it: the untrained fusion wrecks the predicted frame, and the motion stream
  learns to carry the content through the four fusion scales until the frame task's error is near
  the content reconstruction's.

It does not test that the label steers the motion or the content prior: neither is learnt within
minutes on this CPU (README, "The demo", measured); `bash bashes/misc/learning_check.bash` measures
that (`utils.evaluation.motion_direction`).
"""
import random

import numpy as np
import pytest
import torch

from datasets import build_dataset, synthetic
from models import TwoStreamNetworks
from utils.core.data_stream import Batch
from utils.training.loop import train_step
from utils.training.optimization import build_optimizers

pytestmark = pytest.mark.slow

# the demo's configuration (bashes/TwoStreamVAN/DemoTrain.bash)
VALUES = dict(c_kl=1.0, img_m_kl=1e4, m_kl=1e3, xp_vs_xtilde=1.0, c_img_dis=10.0, epsilon=1.0,
              pred_scale_feat=100.0, video_scale_feat=100.0)
PRETRAIN, FRAME = 1200, 150


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Content pre-training, then frame tasks, on a small `large` set; return the measurements."""
    root = str(tmp_path_factory.mktemp("learning") / "large")
    synthetic.generate(root, seed=0, videos_per_class=20, design="large")
    train_set = build_dataset("synthetic", root, "train", crop=True)
    test_set = build_dataset("synthetic", root, "test", crop=False)
    nc = len(train_set.classes)
    torch.manual_seed(0)
    rng = random.Random(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    nets = TwoStreamNetworks(nc, cont_dim=64, motion_dim=16, gf_dim=8, image_ndf=16, video_ndf=16,
                             joint=True, use_bn=True)
    groups = nets.parameter_groups()
    optimizers = build_optimizers(groups, lr=1e-3)
    loader = torch.utils.data.DataLoader(train_set, batch_size=8, shuffle=True, drop_last=True,
                                         generator=torch.Generator().manual_seed(0))
    test_item = next(iter(torch.utils.data.DataLoader(test_set, batch_size=len(test_set))))
    first = Batch.from_loader(test_item, nc, torch.device("cpu"))

    def batches():
        while True:
            for item in loader:
                yield Batch.from_loader(item, nc, torch.device("cpu"))

    stream, out = batches(), {}
    try:
        for task, steps in (("pretrain", PRETRAIN), ("frame", FRAME)):
            out[task] = []
            for _ in range(steps):
                losses, _, updated = train_step(task, nets, groups, optimizers, next(stream), VALUES, rng)
                assert updated is not None, f"non-finite loss in a {task} step"
                out[task].append(float(losses.scalars["mse"].detach()))
            if task == "pretrain":
                nets.eval()
                with torch.no_grad():
                    frames = first.images[:, :, 0]
                    recon, _, _ = nets.generator.reconstruct_frame(first.onehot, frames, "mean")
                nets.train()
                out["recon_mse"] = float(((recon - frames) ** 2).mean())
                out["mean_colour_mse"] = float(((frames - frames.mean(dim=(2, 3), keepdim=True)) ** 2).mean())
    finally:
        torch.set_num_threads(threads)
    print({k: v for k, v in out.items() if k not in ("pretrain", "frame")},
          {k: (np.mean(out[k][:5]), np.mean(out[k][-20:])) for k in ("pretrain", "frame")})
    return out


def test_content_pretraining_reconstructs_better_than_each_frames_mean_colour(run):
    assert np.mean(run["pretrain"][-20:]) < 0.4 * np.mean(run["pretrain"][:5]), run["pretrain"][::100]
    assert run["recon_mse"] < 0.8 * run["mean_colour_mse"], (run["recon_mse"], run["mean_colour_mse"])


def test_the_motion_stream_learns_to_carry_the_content_through_the_fusion(run):
    start, end, content = np.mean(run["frame"][:5]), np.mean(run["frame"][-20:]), np.mean(run["pretrain"][-20:])
    assert start > 0.2, run["frame"][:5]                          # the untrained fusion wrecks the frame
    assert end < 0.2 * start and end < 2.0 * content, (start, end, content)
