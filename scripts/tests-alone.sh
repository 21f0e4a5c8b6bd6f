#!/usr/bin/env bash
# Runs each end-to-end test (tests/) alone, on an emptied target/test-data, and lists the failures.
#
# The tests share one data folder that `util::fetched` fills on demand, so a test that forgets to
# fetch something passes whenever another test happened to fetch it first, and fails only in the
# order of some other machine (it did on CI, twice). Alone on an empty folder it fails here too.
# Slow: about an hour on 2 cores, most of it the two mini-set evaluations.
#
#     scripts/tests-alone.sh [FILTER]     # e.g. `baselines::` for one file's tests
#
# Needs BFPGM_MIRROR and BFPGM_REFERENCE as the suite does (README); results go to stdout and
# target/tests-alone/<test>.log.
set -euo pipefail
cd "$(dirname "$0")/.."
export CI="${CI:-1}"

bin="$(cargo test --release --test integration --no-run --message-format=json 2>/dev/null |
    python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "integration" and m.get("executable"):
        print(m["executable"])')"
[[ -x "$bin" ]] || { echo "tests-alone: the integration tests did not build" >&2; exit 2; }

logs=target/tests-alone
mkdir -p "$logs"
failed=0
while read -r name; do
    rm -rf target/test-data
    start=$SECONDS
    if "$bin" --exact "$name" --test-threads 1 >"$logs/${name//::/__}.log" 2>&1; then
        echo "ok    $((SECONDS - start)) s  $name"
    else
        echo "FAIL  $((SECONDS - start)) s  $name  ($logs/${name//::/__}.log)"
        failed=$((failed + 1))
    fi
done < <("$bin" --list "${1:-}" 2>/dev/null | sed -n 's/: test$//p')
echo "$failed failed"
[[ $failed -eq 0 ]]
