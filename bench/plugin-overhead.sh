#!/usr/bin/env bash
# plugin-overhead.sh: median cost of one lrsgd-r step through the optimizer
# plugin process (memfd shared memory; Steps on the step channel, and for
# comparison as gRPC calls) against the same block in-process (on Go-heap
# buffers, and bound to a memfd mapping with the plugin's layout), at
# 62,006, 1,000,000 and 11,200,000 parameters.
#
#   bench/plugin-overhead.sh            # COUNT=5 repeats of STEPS=50 timed steps
#   COUNT=10 STEPS=100 bench/plugin-overhead.sh
#
# Each repeat reports the median step time (BenchmarkStep in plugins/loader);
# the table shows the median over repeats, and min-max over repeats.
set -euo pipefail
COUNT=${COUNT:-5}
STEPS=${STEPS:-50}
cd "$(dirname "$0")/.."

cmd="go test -run '^\$' -bench '^BenchmarkStep\$' -benchtime ${STEPS}x -count ${COUNT} -timeout 30m ./plugins/loader"
model=$(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -1)
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
raw=$(mktemp)
trap 'rm -f "$raw"' EXIT
eval "$cmd" | tee "$raw" >&2
cmd2="go test -run '^\$' -bench '^BenchmarkRoundTrip\$' -benchtime 60x -count ${COUNT} ./plugins/loader"
raw2=$(mktemp)
trap 'rm -f "$raw" "$raw2"' EXIT
eval "$cmd2" | tee "$raw2" >&2
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

echo
echo "machine: ${model}, nproc $(nproc), $(go version | cut -d' ' -f3)"
echo "load average (1/5/15 min): before ${load_before}, after ${load_after}"
echo "commands: ${cmd}"
echo "          ${cmd2}"
echo
# Lines look like:
# BenchmarkStep/n=62006/plugin-2  50  552715 ns/op  448.74 MB/s  469047 median-cpu-ns/step  461352 median-ns/step
table() { # $1: metric unit, $2: title
	echo "$2"
	echo
	awk -v unit="$1" '/^BenchmarkStep\// {
		split($1, p, "/"); n = substr(p[2], 3); w = p[3]; sub(/-[0-9]+$/, "", w)
		for (i = 2; i < NF; i++) if ($(i+1) == unit) print n, w, $i
	}' "$raw" | sort -k1,1n -k2,2 -k3,3n | awk '
	function flush() {
		if (key == "") return
		med[key] = (c % 2) ? v[(c+1)/2] : (v[c/2] + v[c/2+1]) / 2
		lo[key] = v[1]; hi[key] = v[c]
	}
	{
		k = $1 " " $2
		if (k != key) { flush(); key = k; c = 0; if (!($1 in seen)) { seen[$1] = 1; ns[++nn] = $1 } }
		v[++c] = $3
	}
	END {
		flush()
		printf "| parameters | in-process, heap (ms) | in-process, shm layout (ms) | plugin, step channel (ms) | plugin, gRPC Step (ms) | step channel − in-process shm | gRPC Step − in-process shm |\n"
		printf "|---:|---:|---:|---:|---:|---:|---:|\n"
		for (j = 1; j <= nn; j++) {
			n = ns[j]; a = n " inprocess"; s = n " inprocess-shm"; b = n " plugin"; g = n " plugin-rpc"
			printf "| %d | %.3f (%.3f–%.3f) | %.3f (%.3f–%.3f) | %.3f (%.3f–%.3f) | %.3f (%.3f–%.3f) | %+.3f ms = %+.1f%% | %+.3f ms = %+.1f%% |\n", n,
				med[a]/1e6, lo[a]/1e6, hi[a]/1e6, med[s]/1e6, lo[s]/1e6, hi[s]/1e6, med[b]/1e6, lo[b]/1e6, hi[b]/1e6, med[g]/1e6, lo[g]/1e6, hi[g]/1e6,
				(med[b]-med[s])/1e6, 100*(med[b]-med[s])/med[s], (med[g]-med[s])/1e6, 100*(med[g]-med[s])/med[s]
		}
	}'
	echo
}
# Summary: the round trip alone (plugin wall time minus the plugin's own
# time in the update, per step) against the update's in-process cost.
echo "Round trip per step (median over repeats of each repeat's median of plugin wall − plugin-side update time):"
echo
awk '/^BenchmarkStep\// {
	split($1, p, "/"); n = substr(p[2], 3); w = p[3]; sub(/-[0-9]+$/, "", w)
	for (i = 2; i < NF; i++) {
		if ($(i+1) == "median-ns/step") print n, w, $i
		if ($(i+1) == "median-rpc-ns/step") print n, "rt-" w, $i
	}
}' "$raw" | sort -k1,1n -k2,2 -k3,3n | awk '
function flush() { if (key != "") med[key] = (c % 2) ? v[(c+1)/2] : (v[c/2] + v[c/2+1]) / 2 }
{
	k = $1 " " $2
	if (k != key) { flush(); key = k; c = 0; if (!($1 in seen)) { seen[$1] = 1; ns[++nn] = $1 } }
	v[++c] = $3
}
END {
	flush()
	printf "| parameters | update in-process, heap (ms) | update in-process, shm layout (ms) | round trip, step channel (ms) | / in-process heap | / in-process shm | round trip, gRPC Step (ms) | / in-process heap | / in-process shm |\n"
	printf "|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
	for (j = 1; j <= nn; j++) {
		n = ns[j]; a = med[n " inprocess"]; s = med[n " inprocess-shm"]; r = med[n " rt-plugin"]; g = med[n " rt-plugin-rpc"]
		printf "| %d | %.3f | %.3f | %.3f | %.1f%% | %.1f%% | %.3f | %.1f%% | %.1f%% |\n", n, a/1e6, s/1e6, r/1e6, 100*r/a, 100*r/s, g/1e6, 100*g/a, 100*g/s
	}
}'
echo
table median-ns/step "Wall time per step (median over repeats of each repeat's median; min–max over repeats):"
table median-cpu-ns/step "CPU time per step, host process + plugin process (same statistics):"

echo "Round trip against the plugin's idle time (100 parameters, the plugin spins busy ms per step, no memory traffic):"
echo
echo "| busy per step | Steps on | round trip, median over repeats (min–max) |"
echo "|---:|---|---:|"
awk '/^BenchmarkRoundTrip\// {
	split($1, p, "/"); b = p[2]; sub(/^busy=/, "", b); w = p[3]; sub(/-[0-9]+$/, "", w)
	for (i = 2; i < NF; i++) if ($(i+1) == "median-rpc-ns/step") print b, w, $i
}' "$raw2" | sort -k1,1n -k2,2 -k3,3n | awk '
function flush() { if (key != "") printf "| %s | %.3f ms (%.3f–%.3f) |\n", key, ((c % 2) ? v[(c+1)/2] : (v[c/2] + v[c/2+1]) / 2)/1e6, v[1]/1e6, v[c]/1e6 }
{ k = $1 " | " ($2 == "rpc" ? "gRPC Step" : "step channel"); if (k != key) { flush(); key = k; c = 0 } v[++c] = $3 }
END { flush() }'
