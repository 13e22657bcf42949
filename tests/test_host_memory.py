"""`--host_memory`: freed CPU memory is reused by the next allocation instead of being faulted in again."""
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from utils.core import host_memory
from utils.training.options import OptionError, parse_train_options

REPO = Path(__file__).resolve().parent.parent
GLIBC = platform.libc_ver()[0] == "glibc"

# free a 256 MiB tensor, then allocate and touch a 252 MiB one: its minor page faults. (A block of
# exactly the freed size may not fit the freed hole: PyTorch asks for 64-byte alignment, which costs
# a few bytes of padding; a training step's mix of sizes reuses the heap as this does.)
SECOND_ROUND_FAULTS = """
import resource, sys, torch
from utils.core.host_memory import configure_host_memory
configure_host_memory(sys.argv[1])
x = torch.ones(64 << 20); del x
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
x = torch.ones(63 << 20)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""
PAGES = (63 << 20) * 4 // 4096


def second_round_faults(mode):
    out = subprocess.run([sys.executable, "-c", SECOND_ROUND_FAULTS, mode], cwd=REPO, capture_output=True,
                         text=True, check=True)
    return int(out.stdout.strip())


@pytest.mark.skipif(not GLIBC, reason="--host_memory retain changes glibc's malloc only")
def test_retain_reuses_freed_pages():
    assert second_round_faults("retain") < 0.05 * PAGES


@pytest.mark.skipif(not GLIBC, reason="malloc's default behaviour is glibc's")
def test_release_faults_the_pages_in_again():
    # malloc's defaults: a block this large is its own mmap, unmapped on free, zero-filled again on touch
    # (with transparent huge pages always on, 2 MiB pages: 512 times fewer faults)
    thp = Path("/sys/kernel/mm/transparent_hugepage/enabled")
    if thp.exists() and "[always]" in thp.read_text():
        pytest.skip("transparent huge pages are always on: the default faults in 2 MiB pages")
    assert second_round_faults("release") > 0.5 * PAGES


def test_release_leaves_malloc_alone(monkeypatch):
    def no_libc(*args):
        raise AssertionError("release must not touch malloc's settings")
    monkeypatch.setattr(host_memory.ctypes, "CDLL", no_libc)
    assert host_memory.configure_host_memory("release") is False


def test_not_glibc_changes_nothing(monkeypatch):
    monkeypatch.setattr(host_memory.platform, "libc_ver", lambda: ("", ""))
    monkeypatch.setattr(host_memory.ctypes, "CDLL", lambda *a: pytest.fail("mallopt called without glibc"))
    assert host_memory.configure_host_memory("retain") is False


def test_unknown_mode_is_an_error():
    with pytest.raises(ValueError, match="--host_memory must be one of retain, release"):
        host_memory.configure_host_memory("keep")


def test_option_default_and_bad_value():
    assert parse_train_options(["--dataset", "synthetic", "--dataroot", "x"])["host_memory"] == "retain"
    with pytest.raises(OptionError, match="--host_memory"):
        parse_train_options(["--dataset", "synthetic", "--dataroot", "x", "--host_memory", "keep"])


@pytest.mark.skipif(not GLIBC, reason="the comparison switches glibc's malloc settings")
def test_benchmark_comparison_reports_both_modes():
    from utils.tools.benchmark import host_memory_comparison
    result = host_memory_comparison("content", 2, reduced=True, batch_size=2, threads=1)
    assert result["pairs"] == 2
    for mode in ("default", "retain"):
        assert result[f"{mode}_s"] > 0 and result[f"{mode}_faults"] >= 0 and result[f"{mode}_kernel_s"] >= 0
    # the report rounds every number to 4 decimals: the two times by up to 5e-5 s each, the ratio by 5e-5
    retain, default = result["retain_s"], result["default_s"]
    allowed = (5e-5 / retain + 5e-5 / default) * retain / default * 1.01 + 5e-5
    assert abs(result["ratio_of_medians"] - retain / default) <= allowed


def test_benchmark_comparison_rejects_bad_pairs():
    from utils.tools.benchmark import parse_args
    with pytest.raises(SystemExit):
        parse_args(["--compare_host_memory", "frame", "--pairs", "0"])
