#!/bin/bash
# Measures `POST /v1/events` through the front door, as the README's table does: a new log with 4 paused endpoints,
# `hooktop serve` on it, `wrk` posting one ~1 KB event per request over keep-alive connections, then a check that
# every event answered 2xx is in the log. Prints events/s, latency p50/p99, serve's CPU per request.
#
#   scripts/wrk-publish.sh [HOOKTOP_BINARY] [CONNECTIONS] [SECONDS]
#
# Needs wrk and sqlite3 (apt-get install wrk sqlite3). Build first: swift build -c release --product hooktop
set -euo pipefail
binary=${1:-.build/release/hooktop}
connections=${2:-32}
seconds=${3:-8}
port=${HOOKTOP_BENCH_PORT:-18088}
for tool in wrk sqlite3 curl; do
    command -v "$tool" >/dev/null || { echo "wrk-publish: $tool is not installed" >&2; exit 2; }
done
[ -x "$binary" ] || { echo "wrk-publish: no hooktop binary at $binary (build it, or pass its path)" >&2; exit 2; }
work=$(mktemp -d)
serve=""
cleanup() { [ -n "$serve" ] && kill "$serve" 2>/dev/null && wait "$serve" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
export HOOKTOP_DB=$work/hooktop.db
for n in 1 2 3 4; do
    id=$("$binary" endpoint add "http://127.0.0.1:9/endpoint-$n" --allow-private-destinations | tail -1)
    "$binary" endpoint pause "$id" >/dev/null
done
token=$("$binary" token create --name wrk | grep -o 'htk_[A-Za-z0-9_-]*')
"$binary" serve --listen "127.0.0.1:$port" --allow-private-destinations --log-level warning >"$work/serve.log" 2>&1 &
serve=$!
for _ in $(seq 100); do curl -sf -o /dev/null "127.0.0.1:$port/healthz" && break; sleep 0.1; done
cat >"$work/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $token"
wrk.body = '{"type":"order.created","payload":{"order_id":12345,"customer":"c_42","note":"' .. string.rep("x", 900) .. '","amount":4200}}'
LUA
cpu() { awk '{print $14 + $15}' "/proc/$serve/stat"; }
before=$(cpu)
wrk -t2 -c"$connections" -d"${seconds}s" --latency -s "$work/post.lua" "http://127.0.0.1:$port/v1/events" >"$work/wrk.txt"
after=$(cpu)
kill "$serve"; wait "$serve" 2>/dev/null || true; serve=""
requests=$(awk '/requests in/ {print $1}' "$work/wrk.txt")
errors=$(awk '/Non-2xx/ {print $NF}' "$work/wrk.txt")
stored=$(sqlite3 "$HOOKTOP_DB" 'SELECT count(*) FROM messages')
ticks=$(getconf CLK_TCK)
awk -v r="$requests" -v s="$seconds" -v c0="$before" -v c1="$after" -v t="$ticks" -v stored="$stored" -v errors="${errors:-0}" '
    /Requests\/sec/ { rate = $2 }
    $1 == "50%" { p50 = $2 } $1 == "99%" { p99 = $2 }
    END {
        printf "%.0f events/s, p50 %s, p99 %s, serve %.0f us CPU per request, %d answered, %d non-2xx, %d in the log\n",
            rate, p50, p99, (c1 - c0) / t * 1e6 / r, r, errors, stored
    }' "$work/wrk.txt"
# wrk counts only the answers it read before stopping; requests still in flight then may be stored too.
if [ "$stored" -lt $((requests - ${errors:-0})) ]; then
    echo "wrk-publish: only $stored events in the log for $((requests - ${errors:-0})) 2xx answers" >&2
    exit 1
fi
