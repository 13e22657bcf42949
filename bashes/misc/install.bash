#!/usr/bin/env bash
# Compile the SepConv CUDA kernels (sepconv/sepconv_kernels.cu) for one GPU
# architecture, so sepconv loads them instead of compiling at run time.
#
#   bash bashes/misc/install.bash <sm_XY|compute_XY> [--out-dir DIR]
#
#   sm_XY       -> sepconv_kernels.sm_XY.<tag>.cubin       (machine code for
#                  sm_XY; also runs on sm_X(Y+n), same major)
#   compute_XY  -> sepconv_kernels.compute_XY.<tag>.fatbin (PTX; the driver
#                  compiles it for any GPU of capability >= X.Y)
#
# <tag> is the first 12 hex digits of the SHA-256 of sepconv_kernels.cu: sepconv
# only loads binaries of the current source, and this script deletes the older
# binaries of the same architecture.
#
# Output goes to --out-dir, else $TWOSTREAMVAN_SEPCONV_BINDIR, else sepconv/
# (sepconv looks in the same places). nvcc is $CUDA_HOME/bin/nvcc when
# CUDA_HOME is set, else the nvcc on PATH. Every error is one line on stderr
# and a non-zero exit.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SRC="$ROOT/sepconv/sepconv_kernels.cu"
USAGE="usage: bash bashes/misc/install.bash <sm_XY|compute_XY> [--out-dir DIR]"

die() { echo "install.bash: $*" >&2; exit 2; }

arch=""
out_dir="${TWOSTREAMVAN_SEPCONV_BINDIR:-$ROOT/sepconv}"
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) echo "$USAGE"; exit 0 ;;
    --out-dir) [ $# -ge 2 ] || die "--out-dir needs a directory; $USAGE"; out_dir="$2"; shift 2 ;;
    --out-dir=*) out_dir="${1#--out-dir=}"; shift ;;
    -*) die "unknown option '$1'; $USAGE" ;;
    *) [ -z "$arch" ] || die "expected one architecture, got '$arch' and '$1'; $USAGE"
       arch="$1"; shift ;;
  esac
done
[ -n "$arch" ] || die "missing architecture; $USAGE"
if [[ ! "$arch" =~ ^(sm|compute)_([1-9][0-9]{1,2})$ ]]; then
  die "malformed architecture '$arch': expected sm_XY or compute_XY with a number, e.g. sm_90 or compute_90"
fi
kind="${BASH_REMATCH[1]}"
num="${BASH_REMATCH[2]}"

if [ -n "${CUDA_HOME:-}" ]; then
  nvcc="$CUDA_HOME/bin/nvcc"
  [ -x "$nvcc" ] || die "CUDA_HOME is '$CUDA_HOME' but $nvcc does not exist or is not executable"
else
  nvcc="$(command -v nvcc || true)"
  [ -n "$nvcc" ] || die "nvcc not found on PATH; install the CUDA toolkit or set CUDA_HOME"
fi
version="$("$nvcc" --version | sed -n 's/.*release \([0-9][0-9.]*\).*/\1/p')"

if [ "$kind" = sm ]; then list_flag=--list-gpu-code; else list_flag=--list-gpu-arch; fi
supported="$("$nvcc" "$list_flag" 2>/dev/null)" \
  || die "nvcc ${version:-?} ($nvcc) cannot list its architectures with $list_flag (CUDA >= 11.0 needed)"
if ! grep -qx -- "$arch" <<<"$supported"; then
  die "nvcc ${version:-?} does not support $arch; it supports: $(echo $supported)"
fi

if command -v sha256sum >/dev/null; then
  tag="$(sha256sum "$SRC" | cut -c1-12)"
else
  tag="$(shasum -a 256 "$SRC" | cut -c1-12)"
fi
if [ "$kind" = sm ]; then ext=cubin; else ext=fatbin; fi
out_name="sepconv_kernels.$arch.$tag.$ext"
if [ "$kind" = sm ]; then
  flags=(-cubin -gencode "arch=compute_$num,code=$arch")
else
  flags=(-fatbin -gencode "arch=$arch,code=$arch")
fi
mkdir -p "$out_dir" || die "cannot create output directory '$out_dir'"
out_dir="$(cd "$out_dir" && pwd)"
out="$out_dir/$out_name"
tmp="$(mktemp "$out.XXXXXX")"
if ! log="$("$nvcc" "${flags[@]}" -o "$tmp" "$SRC" 2>&1)"; then
  rm -f "$tmp"
  printf '%s\n' "$log" >&2
  die "nvcc $version failed to compile $SRC for $arch (compiler output above)"
fi
chmod 644 "$tmp"
mv -f "$tmp" "$out"
removed=0
for old in "$out_dir/sepconv_kernels.$arch".*."$ext"; do  # binaries of older sources
  if [ -e "$old" ] && [ "$old" != "$out" ]; then rm -f "$old"; removed=$((removed + 1)); fi
done
note=""
[ "$removed" -eq 0 ] || note="; removed $removed stale $arch binary(ies)"
echo "install.bash: wrote $out ($arch, nvcc $version, source $tag$note)"
