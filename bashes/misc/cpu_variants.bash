#!/usr/bin/env bash
# Run the numerically sensitive tests as other CPUs would: PyTorch's kernel dispatch forced to
# AVX2 and to the plain (non-vectorised) kernels with ATEN_CPU_CAPABILITY, this CPU's own choice,
# and one thread; prints one summary line per setting and exits non-zero if any setting failed.
# Usage: bash bashes/misc/cpu_variants.bash [test files or pytest options]
#   default tests: the fast-step equality, SepConv, the update rule, the losses and the models.
set -uo pipefail
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/setup_env.bash"
cd "$ROOT"
tests=("$@")
[ "${#tests[@]}" -gt 0 ] || tests=(tests/test_fast_step.py tests/test_sepconv.py tests/test_optimization.py
                                   tests/test_losses.py tests/test_models.py)
echo "CPU: $(lscpu | sed -n 's/^Model name:[[:space:]]*//p'); SIMD: $(grep -o -w -E 'avx2|avx512f|avx512_bf16|amx_tile' /proc/cpuinfo | sort -u | tr '\n' ' ')"
echo "PyTorch picks: $("$PYTHON" -c 'import torch; print(torch.backends.cpu.get_cpu_capability())')"
failed=0
summary=()
for setting in "own" "ATEN_CPU_CAPABILITY=avx2" "ATEN_CPU_CAPABILITY=default" "OMP_NUM_THREADS=1"; do
  if [ "$setting" = own ]; then envs=(); else envs=("$setting"); fi
  echo "== $setting"
  out="$(env ${envs[@]+"${envs[@]}"} "$PYTHON" -m pytest -q -p no:cacheprovider "${tests[@]}" 2>&1)"
  status=$?
  last="$(printf '%s\n' "$out" | tail -n 1)"
  [ "$status" -eq 0 ] || { failed=1; printf '%s\n' "$out" | grep -E '^(FAILED|ERROR)' ; }
  summary+=("$(printf '%-30s %s' "$setting" "$last")")
done
echo
printf '%s\n' "${summary[@]}"
exit "$failed"
