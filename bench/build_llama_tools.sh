#!/usr/bin/env bash
# Builds llama.cpp's command-line tools from the exact llama.cpp revision that node-llama-cpp ships
# (tests/ref/node_modules/node-llama-cpp/llama/gitRelease.bundle), so the tools are the same code
# the correctness reference (tests/ref/llama_ref.mjs) runs. No network is needed.
#
# Usage: bench/build_llama_tools.sh [DIR]
#   DIR holds src/ (a clone of the bundle) and build/; default, keyed by the bundle's revision so
#   that every checkout and every CI run on one machine shares one build:
#     ${MOECAT_LLAMA_CACHE:-$HOME/.cache/moecat}/llama.cpp-<first 12 hex digits of the revision>
# Env:   TARGETS  the CMake targets to build (default: llama-bench llama-batched-bench
#                 llama-quantize llama-imatrix; CI's tests need only llama-quantize llama-imatrix)
#        JOBS     parallel compile jobs (default 1; the dev machine has 2 shared cores)
#        NICE     nice level of the build (default 19)
#        LLAMA_ISA avx2: an AVX2-only build in DIR/build-avx2 (default: the host's ISA)
# Prints the llama.cpp bin directory (DIR/build/bin) as the LAST line of stdout; everything else
# goes to stderr. Idempotent: with the targets built, a second run only re-runs the (no-op)
# incremental build. Concurrent runs on one DIR are serialized with flock. Binaries live outside
# the repository (or under the gitignored .cache/): never commit them.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
JOBS="${JOBS:-1}"
NICE="${NICE:-19}"
TARGETS="${TARGETS:-llama-bench llama-batched-bench llama-quantize llama-imatrix}"
BUNDLE="$REPO/tests/ref/node_modules/node-llama-cpp/llama/gitRelease.bundle"

die() {
  echo "build_llama_tools: $*" >&2
  exit 1
}

[[ -f "$BUNDLE" ]] || die "missing $BUNDLE; run 'npm ci --omit=optional --no-audit --no-fund --ignore-scripts' in $REPO/tests/ref first"
WANT="$(git bundle list-heads "$BUNDLE" | awk '$2=="HEAD"{print $1}')"
[[ "$WANT" =~ ^[0-9a-f]{40}$ ]] || die "cannot read HEAD from $BUNDLE"

DIR="${1:-${MOECAT_LLAMA_CACHE:-$HOME/.cache/moecat}/llama.cpp-${WANT:0:12}}"
SRC="$DIR/src"
BUILD="$DIR/build"
mkdir -p "$DIR"
DIR="$(cd "$DIR" && pwd)"
SRC="$DIR/src"
BUILD="$DIR/build"

# Two CI jobs (or a test and a benchmark) building into one DIR at once would corrupt it.
if command -v flock >/dev/null; then
  exec 9>"$DIR/.lock"
  flock 9
fi

# Re-clone if the source is missing or at another revision (an explicit DIR reused after
# node-llama-cpp was upgraded).
if [[ ! -d "$SRC/.git" ]] || [[ "$(git -C "$SRC" rev-parse HEAD 2>/dev/null)" != "$WANT" ]]; then
  echo "build_llama_tools: cloning $BUNDLE ($WANT) into $SRC" >&2
  rm -rf "$SRC" "$BUILD"
  git clone -q "$BUNDLE" "$SRC"
  git -C "$SRC" -c advice.detachedHead=false checkout -q "$WANT"
fi

# ggml's ISA: -march=native (GGML_NATIVE) unless the CPU advertises AMX. Firecracker VMs like the
# ones this project runs on list amx_tile/amx_int8 in /proc/cpuinfo, but tile instructions fault
# there (ldtilecfg in ggml_backend_amx_mul_mat: llama-bench dies on any prompt), so on such hosts
# the same ISA minus AMX is spelled out feature by feature, in its own build dir.
ISA=(-DGGML_NATIVE=ON)
if grep -qw amx_tile /proc/cpuinfo 2>/dev/null; then
  on() { grep -qw "$1" /proc/cpuinfo && echo ON || echo OFF; }
  ISA=(-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2="$(on avx2)" -DGGML_FMA="$(on fma)" -DGGML_F16C="$(on f16c)"
       -DGGML_BMI2="$(on bmi2)" -DGGML_AVX_VNNI="$(on avx_vnni)" -DGGML_AVX512="$(on avx512f)"
       -DGGML_AVX512_VBMI="$(on avx512vbmi)" -DGGML_AVX512_VNNI="$(on avx512_vnni)"
       -DGGML_AVX512_BF16="$(on avx512_bf16)" -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF)
  BUILD="$DIR/build-noamx"
fi
# LLAMA_ISA=avx2: an AVX2-only build (no AVX-512, no AMX) in its own build dir, the llama.cpp a
# user of an AVX2-only CPU runs (most desktop Intel chips, AMD before Zen 4), for side-by-side
# runs against moecat under MOECAT_ISA=avx2 (bench/compare.sh --isa avx2).
if [[ "${LLAMA_ISA:-}" == avx2 ]]; then
  ISA=(-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
       -DGGML_AVX_VNNI=OFF -DGGML_AVX512=OFF -DGGML_AVX512_VBMI=OFF -DGGML_AVX512_VNNI=OFF
       -DGGML_AVX512_BF16=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF)
  BUILD="$DIR/build-avx2"
elif [[ -n "${LLAMA_ISA:-}" ]]; then
  die "LLAMA_ISA=$LLAMA_ISA: only avx2 is known"
fi

if [[ ! -f "$BUILD/CMakeCache.txt" ]]; then
  # Minimal: only what the tools link (ggml, llama, llama-common); no tests/examples/server/
  # networking. The host ISA (AVX-512/VNNI/BF16, see ISA above) like a user's build;
  # GGML_BACKEND_DL=OFF so the CPU backend is linked in, not dlopen'ed.
  nice -n "$NICE" cmake -S "$SRC" -B "$BUILD" \
    -DCMAKE_BUILD_TYPE=Release \
    "${ISA[@]}" \
    -DGGML_BACKEND_DL=OFF \
    -DGGML_OPENMP=ON \
    -DBUILD_SHARED_LIBS=OFF \
    -DLLAMA_CURL=OFF \
    -DLLAMA_OPENSSL=OFF \
    -DLLAMA_BUILD_TESTS=OFF \
    -DLLAMA_BUILD_EXAMPLES=OFF \
    -DLLAMA_BUILD_SERVER=OFF \
    -DLLAMA_BUILD_APP=OFF \
    -DLLAMA_BUILD_UI=OFF \
    -DLLAMA_BUILD_TOOLS=ON \
    -DLLAMA_BUILD_COMMON=ON >&2
fi
# shellcheck disable=SC2086  # TARGETS is a list
nice -n "$NICE" cmake --build "$BUILD" --target $TARGETS -j "$JOBS" >&2

for t in $TARGETS; do
  [[ -x "$BUILD/bin/$t" ]] || die "build finished but $BUILD/bin/$t is missing"
done
echo "$BUILD/bin"
