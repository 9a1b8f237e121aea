#!/usr/bin/env bash
# Load test of the reference orders service (examples/app) with wrk:
# GET and POST /v1/orders, the bare handlers against the whole middleware
# chain (app.Routes), with in-memory and with Redis stores, HS256 tokens.
# Prints a Markdown table of requests per second, p50/p99 latency and the
# server's CPU time per request, the median of ROUNDS rounds, each round
# running every configuration once in turn.
#
#   bench/loadtest/run.sh                       # 10 s per run, wrk -t2 -c32
#   DURATION=30s CONNS=64 ROUNDS=3 bench/loadtest/run.sh
#
# Needs go, wrk (Debian: apt-get install wrk) and, for the Redis rows,
# redis-server on PATH (STORES=memory skips them). The server and wrk run
# on the same machine and share its cores.
set -euo pipefail

DURATION=${DURATION:-10s}
THREADS=${THREADS:-2}
CONNS=${CONNS:-32}
ROUNDS=${ROUNDS:-1}
STORES=${STORES:-"memory redis"}
PORT=${PORT:-18080}
REDIS_PORT=${REDIS_PORT:-16399}

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=$(mktemp -d)
server_pid="" redis_pid=""

cleanup() {
	[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
	[ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null && wait "$redis_pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

command -v wrk >/dev/null || { echo "wrk not found (Debian: apt-get install wrk)" >&2; exit 1; }
(cd "$root" && go build -o "$work/loadserver" ./bench/cmd/loadserver)

# wait_port waits up to 10 s for something to listen on 127.0.0.1:$1.
wait_port() {
	for _ in $(seq 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.1
	done
	echo "nothing listens on port $1" >&2
	return 1
}

if [[ " $STORES " == *" redis "* ]]; then
	command -v redis-server >/dev/null || { echo "redis-server not found; run with STORES=memory" >&2; exit 1; }
	redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$work" >"$work/redis.log" 2>&1 &
	redis_pid=$!
	wait_port "$REDIS_PORT"
fi

start_server() { # chain store
	local args=(-addr "127.0.0.1:$PORT" -chain "$1" -tokens "$work/tokens")
	[ "$2" = redis ] && args+=(-redis "redis://127.0.0.1:$REDIS_PORT/0")
	"$work/loadserver" "${args[@]}" >"$work/server.log" 2>&1 &
	server_pid=$!
	wait_port "$PORT"
}

# server_ticks prints the CPU time (user and system) the server has used,
# in clock ticks.
server_ticks() {
	awk '{print $14 + $15}' "/proc/$server_pid/stat"
}

stop_server() {
	kill "$server_pid" && wait "$server_pid" || true
	server_pid=""
}

# to_ms converts wrk's latency ("812.00us", "1.25ms", "1.02s") to ms.
to_ms() {
	awk -v v="$1" 'BEGIN {
		if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
		else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
		else if (v ~ /m$/) { sub(/m$/, "", v); printf "%.3f", v * 60000 }
		else { sub(/s$/, "", v); printf "%.3f", v * 1000 }
	}'
}

run_wrk() { # store chain route
	local script=get.lua
	[ "$3" = POST ] && script=post.lua
	local cpu0 cpu1
	cpu0=$(server_ticks)
	TOKENS="$work/tokens" wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency \
		-s "$here/$script" "http://127.0.0.1:$PORT/v1/orders" >"$work/wrk.out"
	cpu1=$(server_ticks)
	local rps p50 p99 bad cpu
	rps=$(awk '/^Requests\/sec:/ {print $2}' "$work/wrk.out")
	# The server's CPU time per request, in µs: what throughput would be
	# bound by if the server had the cores to itself.
	cpu=$(awk -v t="$((cpu1 - cpu0))" -v hz="$(getconf CLK_TCK)" '/ requests in / {printf "%.1f", t * 1e6 / hz / $1}' "$work/wrk.out")
	p50=$(to_ms "$(awk '$1 == "50%" {print $2}' "$work/wrk.out")")
	p99=$(to_ms "$(awk '$1 == "99%" {print $2}' "$work/wrk.out")")
	bad=$(awk '/Non-2xx or 3xx responses:/ {print $NF} /Socket errors:/ {print "socket-errors"}' "$work/wrk.out" | tr '\n' ' ')
	if [ -n "$bad" ]; then
		echo "$1 $2 $3: failures: $bad" >&2
		cat "$work/wrk.out" >&2
	fi
	echo "$1 $2 $3 $rps $p50 $p99 $cpu" >>"$work/results"
	echo "round $round: $1 $2 $3: $rps req/s, p50 $p50 ms, p99 $p99 ms, server CPU $cpu µs/request" >&2
}

for round in $(seq "$ROUNDS"); do
	for store in $STORES; do
		for chain in bare full; do
			start_server "$chain" "$store"
			run_wrk "$store" "$chain" GET
			run_wrk "$store" "$chain" POST
			stop_server
		done
	done
done

# median store chain route column
median() {
	awk -v s="$1" -v c="$2" -v r="$3" -v col="$4" '$1 == s && $2 == c && $3 == r {print $col}' "$work/results" |
		sort -g | awk '{v[NR] = $1} END {if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}

echo
echo "wrk -t$THREADS -c$CONNS -d$DURATION, median of $ROUNDS round(s); latency in ms"
echo
echo "| stores | route | bare req/s | bare p50 | bare p99 | bare CPU µs/req | chain req/s | chain p50 | chain p99 | chain CPU µs/req | chain/bare req/s | bare/chain CPU |"
echo "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
for store in $STORES; do
	for route in GET POST; do
		b=$(median "$store" bare "$route" 4) f=$(median "$store" full "$route" 4)
		bc=$(median "$store" bare "$route" 7) fc=$(median "$store" full "$route" 7)
		printf '| %s | %s /v1/orders | %.0f | %s | %s | %s | %.0f | %s | %s | %s | %s | %s |\n' "$store" "$route" \
			"$b" "$(median "$store" bare "$route" 5)" "$(median "$store" bare "$route" 6)" "$bc" \
			"$f" "$(median "$store" full "$route" 5)" "$(median "$store" full "$route" 6)" "$fc" \
			"$(awk -v f="$f" -v b="$b" 'BEGIN {printf "%.0f%%", 100 * f / b}')" \
			"$(awk -v f="$fc" -v b="$bc" 'BEGIN {printf "%.0f%%", 100 * b / f}')"
	done
done
