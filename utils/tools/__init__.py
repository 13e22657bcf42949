"""Measurements and checks run by hand or by the launchers: the step benchmark (`benchmark`), the
evaluation memory benchmark, the GPU check (`gpu_check`, `gpu_check_steps`, `gpu_probe`), the
crash/resume check (`crash_check`) and the learning probes and goals. May import any `utils` package;
none imports it."""
