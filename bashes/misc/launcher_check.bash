#!/usr/bin/env bash
# Check the published training launchers end to end: for each one, write tiny data in its
# dataset's layout (python -m datasets.tiny_layouts) into a temporary folder and run
#   DATAROOT=<tiny data> EXP_ROOT=<temporary> bash bashes/TwoStreamVAN/<Name>Train.bash --total_iters 2
# (everything else as published: batch 16, full-size networks). A launcher passes when it exits 0
# and its log says "finished at iteration 2". Prints one line per launcher (ok/failed, wall times)
# and, for a failure, the end of its output; exits 1 when any failed (2 on a usage error).
# Usage: bash bashes/misc/launcher_check.bash [--keep] [Weizmann] [MUG] [SynAction] [VoxCeleb] [-- train.py options]
#   default: all four; --keep keeps the temporary folder (also kept after a failure); options after
#   `--` go to every launcher after --total_iters (e.g. `-- --device cuda`).
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/setup_env.bash"
set +e
ITERS=2
declare -A LAYOUT=([Weizmann]=weizmann [MUG]=mug [SynAction]=synaction [VoxCeleb]=voxceleb)
names=() keep=0 extra=()
while [ "$#" -gt 0 ]; do
  arg="$1"; shift
  case "$arg" in
    --keep) keep=1 ;;
    --) extra=("$@"); break ;;
    Weizmann|MUG|SynAction|VoxCeleb) names+=("$arg") ;;
    *) echo "launcher_check: unknown argument '$arg' (expected --keep, Weizmann, MUG, SynAction, VoxCeleb or -- options)" >&2
       exit 2 ;;
  esac
done
[ "${#names[@]}" -gt 0 ] || names=(Weizmann MUG SynAction VoxCeleb)

now() { date +%s.%N; }
seconds() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

work="$(mktemp -d "${TMPDIR:-/tmp}/launcher_check.XXXXXX")"
cd "$ROOT"
echo "launcher check: $ITERS iterations per launcher, published settings, work folder $work"
failed=0
for name in "${names[@]}"; do
  data="$work/$name/data" exp="$work/$name/exp" log="$work/$name/output.log"
  mkdir -p "$work/$name"
  t0="$(now)"
  "$PYTHON" -m datasets.tiny_layouts --layout "${LAYOUT[$name]}" --out "$data" > "$log" 2>&1
  data_rc=$?
  t1="$(now)"
  train_rc=1
  if [ "$data_rc" -eq 0 ]; then
    DATAROOT="$data" EXP_ROOT="$exp" bash "$ROOT/bashes/TwoStreamVAN/${name}Train.bash" --total_iters "$ITERS" \
      ${extra[@]+"${extra[@]}"} >> "$log" 2>&1
    train_rc=$?
  fi
  t2="$(now)"
  if [ "$train_rc" -eq 0 ] && grep -q "finished at iteration $ITERS;" "$exp/logs/$name/log.txt" 2>/dev/null; then
    status=ok
  else
    status=failed failed=$((failed + 1))
  fi
  printf '%-22s %-6s  %6s s  (data %s s, exit %s)\n' "${name}Train.bash" "$status" "$(seconds "$t1" "$t2")" \
    "$(seconds "$t0" "$t1")" "$([ "$data_rc" -eq 0 ] && echo "$train_rc" || echo "data $data_rc")"
  if [ "$status" = failed ]; then
    tail -n 15 "$log" | sed 's/^/    | /'
  fi
done
echo "$(( ${#names[@]} - failed )) ok, $failed failed"
if [ "$failed" -eq 0 ] && [ "$keep" -eq 0 ]; then
  rm -rf "$work"
else
  echo "kept $work"
fi
[ "$failed" -eq 0 ]
