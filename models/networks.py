"""The three networks of a TwoStreamVAN run and their six parameter groups (TRAINING.md §1)."""
import torch.nn as nn

from models.discriminators import ImageDiscriminator, VideoDiscriminator
from models.generator import TwoStreamGenerator

GROUPS = ("content_encoder", "content_decoder", "motion_encoder", "motion_decoder",
          "image_discriminator", "video_discriminator")
# The configuration keys that define a trained model: its networks and the clips they take. A
# checkpoint stores them; evaluation rebuilds the networks from its values, and a resume must agree.
MODEL_OPTIONS = ("dataset", "n_channels", "image_size", "video_length", "cont_dim", "motion_dim", "gf_dim",
                 "use_bn", "no_mask", "joint", "ac_kernel", "kernel_layer", "image_ndf", "video_ndf")


class TwoStreamNetworks(nn.Module):
    """Generator, patch image discriminator and categorical video discriminator."""

    def __init__(self, num_categories, n_channels=3, cont_dim=512, motion_dim=64, gf_dim=16, ac_kernel=5,
                 kernel_layer=4, joint=True, use_bn=False, no_mask=False, image_ndf=16, video_ndf=64,
                 detach_feedback=False):
        super().__init__()
        self.generator = TwoStreamGenerator(num_categories, n_channels, cont_dim, motion_dim, gf_dim, ac_kernel,
                                            kernel_layer, joint, use_bn, no_mask, detach_feedback)
        self.image_discriminator = ImageDiscriminator(n_channels, image_ndf)
        self.video_discriminator = VideoDiscriminator(n_channels, num_categories, video_ndf)

    @classmethod
    def from_config(cls, config, num_categories):
        """Build from the resolved options (a dict with the model option names)."""
        return cls(num_categories, config["n_channels"], config["cont_dim"], config["motion_dim"], config["gf_dim"],
                   config["ac_kernel"], config["kernel_layer"], config["joint"], config["use_bn"],
                   config["no_mask"], config["image_ndf"], config["video_ndf"], config.get("detach_feedback", False))

    def parameter_groups(self):
        """Dict of the six group names -> lists of parameters (disjoint, covering every parameter)."""
        groups = self.generator.parameter_groups()
        groups["image_discriminator"] = list(self.image_discriminator.parameters())
        groups["video_discriminator"] = list(self.video_discriminator.parameters())
        return {name: groups[name] for name in GROUPS}

    def content_parameters(self):
        """Parameters of the two content groups (frozen during the motion tasks)."""
        groups = self.generator.parameter_groups()
        return groups["content_encoder"] + groups["content_decoder"]

    def parameter_counts(self):
        """Dict network name -> number of parameters."""
        return {name: sum(p.numel() for p in getattr(self, name).parameters())
                for name in ("generator", "image_discriminator", "video_discriminator")}
