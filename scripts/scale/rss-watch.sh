#!/usr/bin/env bash
# Runs a command and samples its memory every N seconds (default 2) from /proc/PID/status:
# VmHWM (peak RSS), RssAnon (heap: buffers, LoRA state) and RssFile (mapped model pages).
# Usage: scripts/scale/rss-watch.sh LOG [INTERVAL] -- command args...
# The last line of LOG is the final sample; `sort -k2 -n LOG | tail -1` gives the peak.
set -u
log=$1; shift
interval=2
if [ "$1" != "--" ]; then interval=$1; shift; fi
shift   # --
"$@" &
pid=$!
: > "$log"
# Sample the deepest descendant (the real program when wrapped in /usr/bin/time or a shell).
target() { local p=$pid c; while c=$(pgrep -P "$p" | head -n 1) && [ -n "$c" ]; do p=$c; done; echo "$p"; }
while kill -0 "$pid" 2>/dev/null; do
    t=$(target)
    if [ -r /proc/$t/status ]; then
        awk -v t="$(date +%s)" '/^VmHWM|^VmRSS|^RssAnon|^RssFile/ {v[$1]=$2} END {
            printf "%s hwm_kB %s rss_kB %s anon_kB %s file_kB %s\n", t, v["VmHWM:"], v["VmRSS:"], v["RssAnon:"], v["RssFile:"] }' \
            /proc/$t/status >> "$log" 2>/dev/null
    fi
    sleep "$interval"
done
wait "$pid"
