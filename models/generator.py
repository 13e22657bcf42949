"""The TwoStreamVAN generator and its four forward procedures (MODEL.md §2).

Parameter groups (TRAINING.md §1) are exposed by `parameter_groups()`.
Labels enter as one-hot vectors `[B, nc]` built once per batch by the caller
(`models.blocks.one_hot`). Nothing is detached inside the procedures.
Python's `random` (or the `rng` passed in) draws the scheduled-sampling choices.
"""
import random

import torch
import torch.nn as nn

from models.blocks import GaussianSampler, one_hot
from models.content import ContentEncoder, ContentGenerator, ContentInput
from models.init import initialize_weights
from models.motion import JointMotionInput, MotionEncoder, MotionGenerator, TrajectoryGenerator, enabled_scales

GROUP_NAMES = ("content_encoder", "content_decoder", "motion_encoder", "motion_decoder")


class TwoStreamGenerator(nn.Module):
    """Content stream (VAE over frames) + motion stream (VAE over differences,
    ConvLSTM, kernel-and-mask generator), fused by adaptive separable convolution.
    """

    def __init__(self, num_categories, n_channels=3, cont_dim=512, motion_dim=64, gf_dim=16,
                 ac_kernel=5, kernel_layer=4, joint=True, use_bn=False, no_mask=False, detach_feedback=False):
        super().__init__()
        if ac_kernel % 2 != 1 or ac_kernel < 1:
            raise ValueError(f"ac_kernel must be a positive odd number, got {ac_kernel}")
        if not 1 <= kernel_layer <= 4:
            raise ValueError(f"kernel_layer must be in 1..4, got {kernel_layer}")
        self.num_categories = num_categories
        self.cont_dim, self.motion_dim = cont_dim, motion_dim
        self.use_bn = use_bn
        # --detach_feedback (off, as published): generated frames fed back into the unroll carry no gradient
        self.detach_feedback = detach_feedback
        feature_scales = tuple(s for s in enabled_scales(kernel_layer) if s != 64)
        # content stream
        self.content_encoder = ContentEncoder(n_channels, gf_dim, use_bn)
        self.content_sampler = GaussianSampler(32 * gf_dim, num_categories, cont_dim)
        self.content_input = ContentInput(cont_dim, num_categories, gf_dim)
        self.content_generator = ContentGenerator(n_channels, gf_dim, use_bn, not no_mask, feature_scales)
        # motion stream
        self.motion_encoder = MotionEncoder(n_channels)
        self.motion_sampler = GaussianSampler(512, num_categories, motion_dim)
        self.trajectory_generator = TrajectoryGenerator(motion_dim, num_categories, use_bn)
        self.joint_input = JointMotionInput(gf_dim) if joint else None
        self.motion_generator = MotionGenerator(ac_kernel, kernel_layer)
        initialize_weights(self)

    # ------------------------------------------------------------------ groups
    def parameter_groups(self):
        """Dict group name -> list of parameters (the four generator groups of TRAINING.md §1)."""
        motion_decoder = [self.trajectory_generator, self.motion_generator]
        if self.joint_input is not None:
            motion_decoder.append(self.joint_input)
        modules = {
            "content_encoder": [self.content_encoder, self.content_sampler],
            "content_decoder": [self.content_generator, self.content_input],
            "motion_encoder": [self.motion_encoder, self.motion_sampler],
            "motion_decoder": motion_decoder,
        }
        return {name: [p for m in mods for p in m.parameters()] for name, mods in modules.items()}

    # ------------------------------------------------------------------ pieces
    def content_mean(self, frame, label_onehot):
        """Content-sampler mean of a frame `[B, C, H, W]` -> `[B, cont_dim]`."""
        return self.content_sampler(self.content_encoder(frame), label_onehot, "mean")[0]

    def content_means(self, images, label_onehot):
        """Content means of every frame in one call: images `[B, C, T, 64, 64]` -> `[B, T, cont_dim]`.

        Equal to `content_mean` frame by frame only without BatchNorm in the content encoder."""
        b, c, t = images.shape[:3]
        frames = images.permute(0, 2, 1, 3, 4).reshape(b * t, c, *images.shape[3:])
        return self.content_mean(frames, label_onehot.repeat_interleave(t, 0)).view(b, t, -1)

    def reconstruct_from_means(self, z_content, label_onehot):
        """Content-stream decode of latents `[N, cont_dim]` -> `(images [N, C, 64, 64], scale features)`."""
        content_state, _ = self.content_input(z_content, label_onehot)
        return self.content_generator(content_state)

    def motion_latent(self, motion_maps, label_onehot, mode):
        """motion maps `[N, 16, 8, 8]` -> `(z_m [N, motion_dim], (mean, logvar) or None)`."""
        if mode == "random":
            return motion_maps.new_empty(motion_maps.shape[0], self.motion_dim).normal_(), None
        z, mean, logvar = self.motion_sampler(self.motion_encoder.embed(motion_maps), label_onehot, mode)
        return z, (mean, logvar)

    def decode_with_motion(self, z_content, motion_feature, label_onehot):
        """MCInput -> motion generator -> fused decode. Returns `(frame, scale features, kernels)`."""
        content_state, u = self.content_input(z_content, label_onehot)
        motion_state = motion_feature if self.joint_input is None else self.joint_input(u, motion_feature)
        kernels = self.motion_generator(motion_state)
        frame, features = self.content_generator(content_state, kernels)
        return frame, features, kernels

    # -------------------------------------------------------------- procedures
    def reconstruct_frame(self, label_onehot, frame=None, mode="sample"):
        """Content stream only. frame `[B, C, 64, 64]` (unused for mode 'random').

        Returns `(image [B, C, 64, 64], (mean, logvar) [B, cont_dim] each or None, scale features)`.
        """
        if mode == "random":
            z = label_onehot.new_empty(label_onehot.shape[0], self.cont_dim).normal_()
            stats = None
        else:
            z, mean, logvar = self.content_sampler(self.content_encoder(frame), label_onehot, mode)
            stats = (mean, logvar)
        content_state, _ = self.content_input(z, label_onehot)
        image, features = self.content_generator(content_state)
        return image, stats, features

    def predict_next_frame(self, previous, diffs, t, label_onehot, mode="sample", z_content=None, encoded=None):
        """One motion step. previous `[B, C, 64, 64]`, diffs `[B, C, ≥t, 64, 64]`, 1 ≤ t.

        `z_content` (the content mean of `previous`) and `encoded` (`encode_video` of the first t
        differences) may be passed in when already computed. Returns `(frame [B, C, 64, 64],
        (mean, logvar) [B, motion_dim] each or None, scale features, kernels)`.
        """
        if z_content is None:
            z_content = self.content_mean(previous, label_onehot)
        if encoded is None:
            encoded = self.motion_encoder.encode_video(diffs[:, :, :t])
        z_motion, stats = self.motion_latent(encoded[:, t - 1], label_onehot, mode)
        trajectory = self.trajectory_generator(z_motion, label_onehot).unsqueeze(1)
        outputs, _ = self.trajectory_generator.lstm(torch.cat([encoded[:, :t - 1], trajectory], dim=1))
        frame, features, kernels = self.decode_with_motion(z_content, outputs[:, -1], label_onehot)
        return frame, stats, features, kernels

    def generate_sequence(self, images, label_onehot, diffs, epsilon, mode="sample", rng=random,
                          first=None, encoded=None, truth_means=None):
        """Whole video with scheduled sampling (probability `epsilon` of ground truth).

        images `[B, C, T, 64, 64]`, diffs `[B, C, T−1, 64, 64]`. Pieces already computed may be
        passed in: `first` (the content-mean reconstruction of frame 0), `encoded`
        (`encode_video(diffs)`), `truth_means` (`[B, T, cont_dim]` content means of the frames,
        used where a step takes the ground truth). Returns `(video [B, C, T, 64, 64],
        (mean, logvar) [B, T−1, motion_dim] each or None, scale features: list over the T−1
        generated frames of lists over scales)`.
        """
        if first is None:
            first, _, _ = self.reconstruct_frame(label_onehot, images[:, :, 0], "mean")
        if encoded is None:
            encoded = self.motion_encoder.encode_video(diffs)
        b, steps = encoded.shape[:2]
        z_motion, stats = self.motion_latent(encoded.flatten(0, 1), label_onehot.repeat_interleave(steps, 0), mode)
        if stats is not None:
            stats = tuple(s.view(b, steps, -1) for s in stats)
        video, features, _ = self._unroll(first, z_motion.view(b, steps, -1), label_onehot, epsilon, rng,
                                          images=images, encoded=encoded, truth_means=truth_means)
        return video, stats, features

    def generate(self, label_onehot, num_frames, rng=random):
        """Unconditional sampling: frame 0 from `N(0, I)` content, `z_m ~ N(0, I)` per step, ε = 0.

        Returns `(video [B, C, num_frames, 64, 64], masks: dict scale -> [B, 1, num_frames−1, S, S])`.
        The caller sets eval mode and drops warm-up frames (see `sample_videos`).
        """
        first, _, _ = self.reconstruct_frame(label_onehot, None, "random")
        b = label_onehot.shape[0]
        z_motion = label_onehot.new_empty(b, num_frames - 1, self.motion_dim).normal_()
        video, _, kernels = self._unroll(first, z_motion, label_onehot, 0.0, rng)
        masks = {s: torch.stack([k[s][2] for k in kernels], dim=2) for s in kernels[0]} if kernels else {}
        return video, masks

    def _unroll(self, first, z_motion, label_onehot, epsilon, rng, images=None, encoded=None, truth_means=None):
        """The recurrent loop shared by `generate_sequence` and `generate` (MODEL.md §2 step 3). With
        `detach_feedback` a generated frame read back (content source, motion input) is detached: the
        loss of a later frame no longer reaches earlier steps through the frames, only through the
        ConvLSTM state (README, "The published schedule in miniature")."""
        b, steps = z_motion.shape[:2]
        if epsilon >= 1 and truth_means is not None and encoded is not None:
            return self._unroll_teacher_forced(first, z_motion, label_onehot, rng, encoded, truth_means)
        trajectory = self.trajectory_generator(z_motion.flatten(0, 1), label_onehot.repeat_interleave(steps, 0))
        trajectory = trajectory.view(b, steps, *trajectory.shape[1:])
        frames, features, kernels = [first], [], []
        state = None
        lstm = self.trajectory_generator.lstm
        fed_back = (lambda frame: frame.detach()) if self.detach_feedback else (lambda frame: frame)
        for k in range(steps):
            use_truth = images is not None and rng.random() < epsilon
            if use_truth and truth_means is not None:
                z_content = truth_means[:, k]
            else:
                z_content = self.content_mean(images[:, :, k] if use_truth else fed_back(frames[k]), label_onehot)
            if k > 0:
                if encoded is not None and rng.random() < epsilon:
                    previous_motion = encoded[:, k - 1]
                else:
                    previous_motion = self.motion_encoder(fed_back(frames[k - 1]) - fed_back(frames[k]))
                _, state = lstm(previous_motion.unsqueeze(1), state)
            outputs, _ = lstm(trajectory[:, k:k + 1], state)
            frame, step_features, step_kernels = self.decode_with_motion(z_content, outputs[:, -1], label_onehot)
            frames.append(frame)
            features.append(step_features)
            kernels.append(step_kernels)
        return torch.stack(frames, dim=2), features, kernels


    def _unroll_teacher_forced(self, first, z_motion, label_onehot, rng, encoded, truth_means):
        """`_unroll` at ε = 1 with the steps' MCInput batched (same maths).

        Every step takes the ground truth: the content means `truth_means [B, T, cont_dim]` and
        the motion maps `encoded [B, T−1, 16, 8, 8]`, so no step reads an earlier output frame.
        The ConvLSTM runs step by step; MCInput (no BatchNorm; its joint layer holds 33.5 M
        weights that a batch of B reads once per call) runs once over the (T−1)·B rows; the
        kernel generator and the fused decoder, whose BatchNorm statistics are per step, run
        per step (batching them was slower on the CPU: utils/SPEED.md).
        """
        b, steps = z_motion.shape[:2]
        for k in range(steps):          # the draws of `_unroll` (all ground truth at ε = 1)
            rng.random()
            if k > 0:
                rng.random()
        trajectory = self.trajectory_generator(z_motion.flatten(0, 1), label_onehot.repeat_interleave(steps, 0))
        trajectory = trajectory.view(b, steps, *trajectory.shape[1:])
        lstm, state, motion = self.trajectory_generator.lstm, None, []
        for k in range(steps):
            if k > 0:
                _, state = lstm(encoded[:, k - 1:k], state)
            outputs, _ = lstm(trajectory[:, k:k + 1], state)
            motion.append(outputs[:, -1])
        motion = torch.cat(motion)                                          # [(T−1)·B, 16, 8, 8], step-major
        z_content = truth_means[:, :steps].transpose(0, 1).flatten(0, 1)
        content_state, u = self.content_input(z_content, label_onehot.repeat(steps, 1))
        if self.joint_input is not None:
            motion = self.joint_input(u, motion)
        frames, features, kernels = [first], [], []
        for k, (state_k, motion_k) in enumerate(zip(content_state.split(b), motion.split(b))):
            step_kernels = self.motion_generator(motion_k)
            frame, step_features = self.content_generator(state_k, step_kernels)
            frames.append(frame)
            features.append(step_features)
            kernels.append(step_kernels)
        return torch.stack(frames, dim=2), features, kernels


@torch.no_grad()
def sample_videos(generator, labels, video_length, warmup=2, rng=random):
    """Test-time generation in eval mode: `video_length + warmup` frames, warm-up dropped.

    labels `[B]` (long). Returns `(videos [B, C, video_length, 64, 64], masks dict scale ->
    [B, 1, video_length, S, S])`; the generator's train/eval mode is restored afterwards.
    """
    was_training = generator.training
    generator.eval()
    try:
        video, masks = generator.generate(one_hot(labels, generator.num_categories), video_length + warmup, rng)
    finally:
        generator.train(was_training)
    masks = {s: m[:, :, max(warmup - 1, 0):] for s, m in masks.items()}
    return video[:, :, warmup:], masks
