#!/usr/bin/env bash
# instructions.sh counts the instructions per operation of one benchmark of
# the bench module: a figure that does not drift with a noisy machine's
# speed, for comparing two commits on a VM whose ns/op do. It runs the
# benchmark under valgrind's cachegrind at OPS and at OPS/2 operations, with
# -cpu 1, and divides the difference by OPS/2, so set-up cancels out.
#
#   bench/instructions.sh 'RatelimitDecision/backstop-sliding$'        # GOGC=off: the code alone
#   bench/instructions.sh -g 'RatelimitMiddleware/backstop$' 400000    # the collector's share too
#
# Under valgrind a program runs tens of times slower, so work driven by the
# clock (timers, heartbeats) counts for more per operation than it does
# natively: compare two builds with the same command, not with ns/op.
# Needs valgrind (Debian: apt-get install valgrind). Run from the repo root.
set -euo pipefail

gc=off
if [[ "${1:-}" == "-g" ]]; then
  gc=100
  shift
fi
if [[ $# -lt 1 ]]; then
  sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
bench=$1
ops=${2:-1000000}
half=$((ops / 2))
if ! command -v valgrind >/dev/null; then
  echo "instructions.sh: valgrind is not installed (apt-get install valgrind)" >&2
  exit 1
fi

bin=$(mktemp -d)/bench.test
trap 'rm -rf "$(dirname "$bin")"' EXIT
(cd bench && go test -c -o "$bin" .)
if ! (cd bench && "$bin" -test.run '^$' -test.bench "$bench" -test.benchtime 1x) | grep -q '^Benchmark'; then
  echo "instructions.sh: '$bench' names no benchmark of the bench module" >&2
  exit 1
fi

count() {
  (cd bench && GOGC=$gc valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null \
    "$bin" -test.run '^$' -test.bench "$bench" -test.cpu 1 -test.benchtime "${1}x" 2>&1 >/dev/null) |
    awk '/I *refs:/ { gsub(",", "", $NF); print $NF }'
}
full=$(count "$ops")
part=$(count "$half")
if [[ -z "$full" || -z "$part" ]]; then
  echo "instructions.sh: valgrind printed no count" >&2
  exit 1
fi
echo "$bench: $(((full - part) / half)) instructions/op (GOGC=$gc, -cpu 1, $ops and $half ops)"
