"""Networks of TwoStreamVAN: generator (content + motion streams), discriminators, losses."""
from models.generator import TwoStreamGenerator, sample_videos
from models.networks import GROUPS, TwoStreamNetworks

__all__ = ["TwoStreamGenerator", "TwoStreamNetworks", "GROUPS", "sample_videos"]
