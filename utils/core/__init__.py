"""Small pieces shared by every command: configuration basics (`config`), CLI error handling (`cli`),
the device (`device`), checkpoint files (`checkpoint`), random states (`rng`), host memory
(`host_memory`), batches over a dataset (`data_stream`), the run logger (`logger`) and its pictures
(`visualize`). Imports no other `utils` package."""
