#!/usr/bin/env bash
# Fuzzes every target (or those named) for SECONDS each, one after the other (one core each),
# starting from the committed seeds, and prints libFuzzer's final stats per target.
#
#   fuzz/campaign.sh                 # every target, 180 s each
#   SECONDS_PER_TARGET=3600 fuzz/campaign.sh config properties
#
# New corpus entries go to fuzz/corpus/<target>/ (gitignored), crashes to fuzz/artifacts/<target>/.
# Needs cargo-fuzz (`cargo install cargo-fuzz`); RUSTC_BOOTSTRAP=1 lets a stable toolchain accept
# the nightly-only sanitizer flags cargo-fuzz passes.
set -uo pipefail
cd "$(dirname "$0")/.."

seconds="${SECONDS_PER_TARGET:-180}"
export RUSTC_BOOTSTRAP=1
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo fuzz list)
fi
mkdir -p fuzz/logs
cargo fuzz build || exit 1

status=0
summary=()
for target in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$target"
    log="fuzz/logs/$target.log"
    echo "== $target: ${seconds}s (log: $log)"
    cargo fuzz run "$target" "fuzz/corpus/$target" "fuzz/seeds/$target" -- \
        -max_total_time="$seconds" -timeout=30 -print_final_stats=1 >"$log" 2>&1
    rc=$?
    done_line=$(grep -E '^Done [0-9]+ runs in [0-9]+ second' "$log" | tail -n 1)
    execs=$(grep -E '^stat::number_of_executed_units:' "$log" | awk '{print $2}' | tail -n 1)
    cov=$(grep -E '^#[0-9]+' "$log" | tail -n 1 | grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[0-9]+[a-zA-Z]*')
    if [ $rc -ne 0 ]; then
        status=1
        summary+=("$target: FAILED (exit $rc) after ${execs:-?} executions; see $log and fuzz/artifacts/$target/")
    else
        summary+=("$target: ${done_line:-?} ($cov)")
    fi
done

echo
printf '%s\n' "${summary[@]}"
exit $status
