#!/usr/bin/env bash
# Builds the request-parser fuzzer with clang (libFuzzer, ASan, UBSan) and
# runs it for SECONDS (default 60). Exits non-zero on a crash or a
# sanitizer report. Usage: dataplane/fuzz/run.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-60}
out=../../build/fuzz
mkdir -p "$out" "$out/corpus"
cp -n corpus/* "$out/corpus/" 2>/dev/null || true
clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
  -D_GNU_SOURCE -I../src \
  request_fuzz.c ../src/request.c ../src/num.c -o "$out/request_fuzz"
"$out/request_fuzz" -max_total_time="$secs" -max_len=4200 -print_final_stats=1 "$out/corpus" 2>&1 | tail -n 25
