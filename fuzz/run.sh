#!/usr/bin/env bash
# `make fuzz`: replays each target's regression inputs and seed corpus, then fuzzes it for SECONDS
# (JOBS targets at once); fails on any crash, leak, undefined behaviour, timeout or out-of-memory,
# printing the end of the target's log and where libFuzzer wrote the input.
# Usage: fuzz/run.sh BUILD_DIR SECONDS JOBS TARGET...
set -uo pipefail
cd "$(dirname "$0")/.."
build=$1 seconds=$2 jobs=$3
shift 3
targets=("$@")

# Readable stack traces from clang's runtime, when the symbolizer is installed (llvm-14).
if [ -x /usr/lib/llvm-14/bin/llvm-symbolizer ]; then
  export ASAN_SYMBOLIZER_PATH=/usr/lib/llvm-14/bin/llvm-symbolizer
fi
export ASAN_OPTIONS=detect_leaks=1:check_initialization_order=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

run_one() {
  local t=$1
  local exe=$build/fuzz/fuzz_$t log=$build/fuzz-logs/$t.log
  local work=$build/fuzz-corpus/$t artifacts=$build/fuzz-artifacts/$t/
  mkdir -p "$work" "$artifacts" "$(dirname "$log")"
  : > "$log"
  # Known crashes first, one by one, so a regression names its file.
  local -a regressions=()
  [ -d "fuzz/regressions/$t" ] && mapfile -t regressions < <(find "fuzz/regressions/$t" -type f | sort)
  if [ ${#regressions[@]} -gt 0 ] && ! "$exe" "${regressions[@]}" >> "$log" 2>&1; then
    echo "replay of fuzz/regressions/$t failed" >> "$log"
    return 1
  fi
  # The new inputs it finds go to $work (the first corpus directory); the committed ones are read only.
  local -a corpora=("$work" "fuzz/corpus/$t")
  [ -d "fuzz/regressions/$t" ] && corpora+=("fuzz/regressions/$t")
  "$exe" -max_total_time="$seconds" -timeout=30 -rss_limit_mb=3072 -print_final_stats=1 \
         -artifact_prefix="$artifacts" "${corpora[@]}" >> "$log" 2>&1
}

summary() {
  local t=$1 log=$build/fuzz-logs/$t.log
  local runs speed cov
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1)
  local kept
  kept=$(find "$build/fuzz-corpus/$t" -type f | wc -l)
  echo "fuzz: $t passed: ${runs:-0} inputs in ${seconds} s (${speed:-0}/s), ${cov:-cov: ?}," \
       "$kept inputs kept in $build/fuzz-corpus/$t"
}

status_dir=$build/fuzz-logs/status
rm -rf "$status_dir" && mkdir -p "$status_dir"
echo "fuzz: ${targets[*]}, ${seconds} s each, ${jobs} at a time (logs in $build/fuzz-logs/)"
for t in "${targets[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n; done
  ( run_one "$t"; echo $? > "$status_dir/$t" ) &
done
wait

failed=0
for t in "${targets[@]}"; do
  if [ "$(cat "$status_dir/$t" 2>/dev/null)" = 0 ]; then
    summary "$t"
    continue
  fi
  failed=1
  echo "fuzz: $t FAILED; the end of $build/fuzz-logs/$t.log:"
  tail -n 60 "$build/fuzz-logs/$t.log" | sed 's/^/    /'
  for crash in "$build/fuzz-artifacts/$t"/*; do
    [ -e "$crash" ] || continue
    echo "fuzz: input: $crash (replay: $build/fuzz/fuzz_$t $crash; once fixed, keep it as" \
         "fuzz/regressions/$t/<what-it-found>)"
  done
done
exit $failed
