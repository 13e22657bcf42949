"""Console, text-file and TensorBoard (tensorboardX) logging of a run."""
import math
import os
import time

from tqdm import tqdm

from utils.core.visualize import grid_for_tensorboard


class RunLogger:
    """Writes lines to the console (through tqdm) and `<log_dir>/log.txt`; scalars and
    video grids to TensorBoard under `log_dir`. `enabled=False` writes nothing."""

    def __init__(self, log_dir, enabled=True):
        self.log_dir = log_dir
        self.enabled = enabled
        self.writer = None
        if enabled:
            from tensorboardX import SummaryWriter
            os.makedirs(log_dir, exist_ok=True)
            self.writer = SummaryWriter(log_dir)
            self.text = open(os.path.join(log_dir, "log.txt"), "a")

    def line(self, message):
        """Print a line and append it to the text log."""
        if not self.enabled:
            return
        tqdm.write(message)
        self.text.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}\n")
        self.text.flush()

    def scalars(self, prefix, values, step):
        """Log a dict of floats as `<prefix>/<name>` (non-finite values are left out: the console
        line shows them, TensorBoard cannot)."""
        if self.writer is not None:
            for name, value in values.items():
                if math.isfinite(float(value)):
                    self.writer.add_scalar(f"{prefix}/{name}", float(value), step)

    def videos(self, tag, videos, step, max_videos=8):
        """Log videos `[N, C, T, H, W]` in [-1, 1] as one image grid (rows = videos, columns = frames)."""
        if self.writer is not None:
            self.writer.add_image(tag, grid_for_tensorboard(videos[:max_videos].detach().float().cpu()), step)

    def close(self):
        if self.writer is not None:
            self.writer.close()
            self.text.close()
            self.writer = None
