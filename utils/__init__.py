"""Everything between the networks and the command line, by concern.

Packages, each importing only those listed after it (and `models`, `datasets`, `sepconv`):

* `utils.tools` — measurements and checks run by hand or by launchers: benchmarks, the GPU check,
  the crash/resume check, the learning probes and goals.
* `utils.training` — the generator's training: options, the loop, the tasks and their reference,
  optimisation, schedules, distributed training, divergence checks.
* `utils.classifier` — the evaluation classifier's own commands: options, training, train and eval.
* `utils.evaluation` — scoring videos: generation protocols, metrics, the classifier as a scorer,
  video scoring with cached real statistics, reports, learning curves, motion direction.
* `utils.core` — small shared pieces: configuration basics, CLI error handling, device, checkpoint
  files, random states, host memory, the data stream, the run logger and its pictures.

`utils.training` and `utils.classifier` do not import each other. `tests/test_layout.py` checks
these arrows and that no module imports another in a circle.
"""
