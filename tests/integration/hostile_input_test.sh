#!/usr/bin/env bash
# Hostile input against a running kproxy (issue 14's reproducers): manifests that used to crash
# or exhaust it, a misbehaving API server, floods and descriptor exhaustion of the health port.
# Each must end in a clear log line naming the object, with the daemon alive, /healthz 200 and the
# other Services' rules in place; `kproxy render` exits 1 naming the object.
# Usage: hostile_input_test.sh BUILD_DIR. IP plan: topology.sh; the API server listens on the node
# namespace's 127.0.0.1. Services (namespace t): web 10.96.0.80:80 -> pods 1-3;
# lb 10.96.0.86 (LoadBalancer, eTP Local, health check node port 32001) -> pod-1.
set -euo pipefail
here=$(dirname "$(readlink -f "$0")")
build=${1:?usage: $0 BUILD_DIR}
if [ "$(id -u)" -ne 0 ]; then
  echo "SKIP: needs root for network namespaces"
  exit 77
fi
for tool in python3 openssl curl prlimit; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool missing (scripts/install-deps.sh installs it)"; exit 77; }
done
TOPO_PREFIX="kproxy-test-hostile-$$"
TOPO_SAVE="iptables-nft-save"
. "$here/topology.sh"
. "$here/apiserver.sh"
work=$(mktemp -d)
trap 'topo_cleanup; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

LIVE_TAG=hostile
log="$work/kproxy.log"
. "$here/live_lib.sh"  # ok, bad, from, count, write
in_node() { ip netns exec "$(topo_ns node)" "$@"; }
healthz() { in_node curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:${1:-10256}/healthz" || true; }
web_answers() { # 30 connections to web, all answered by its pods
  local out
  out=$(from client tcp 10.96.0.80 80 30)
  [ $(($(count pod-1 "$out") + $(count pod-2 "$out") + $(count pod-3 "$out"))) = 30 ]
}
log_has() { grep -qF -- "$1" "$log"; }
wait_log() { until_ok "${2:-10}" log_has "$1"; }
peak_mb() { awk '/^VmHWM/ { printf "%d", $2 / 1024 }' "/proc/$KPROXY_PID/status" 2>/dev/null || echo 0; }
# still_serving WHAT: the daemon alive, /healthz 200, web's rules and traffic intact.
still_serving() {
  if kill -0 "$KPROXY_PID" 2>/dev/null && [ "$(healthz)" = 200 ] && until_ok 5 web_answers; then
    ok "$1: daemon alive, /healthz 200, web still answered"
  else bad "$1: alive=$(kill -0 "$KPROXY_PID" 2>/dev/null && echo yes || echo no) healthz=$(healthz)"; fi
}

topo_up "$build/kproxy-testserver"
mkdir -p "$work/manifests" "$work/hostile"
cat >"$work/manifests/web.yaml" <<'EOF'
kind: Service
metadata: {name: web, namespace: t}
spec: {clusterIP: 10.96.0.80, ports: [{name: http, port: 80, targetPort: 8080}]}
---
kind: EndpointSlice
metadata: {name: web-1, namespace: t, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
endpoints:
- {addresses: [10.244.1.2], nodeName: node1}
- {addresses: [10.244.2.2], nodeName: node1}
- {addresses: [10.244.3.2], nodeName: node1}
ports: [{name: http, port: 8080}]
---
kind: Service
metadata: {name: lb, namespace: t}
spec: {type: LoadBalancer, clusterIP: 10.96.0.86, externalTrafficPolicy: Local, healthCheckNodePort: 32001,
       ports: [{name: http, port: 80, nodePort: 30086, targetPort: 8080}]}
---
kind: EndpointSlice
metadata: {name: lb-1, namespace: t, labels: {kubernetes.io/service-name: lb}}
addressType: IPv4
endpoints: [{addresses: [10.244.1.2], nodeName: node1}]
ports: [{name: http, port: 8080}]
EOF

# The reproducers, as files.
deep=$(printf '%*s' 85000 '' | tr ' ' '['; printf '%*s' 85000 '' | tr ' ' ']')
printf '{"apiVersion":"v1","kind":"Service","metadata":{"name":"deep","namespace":"t"},"spec":{"clusterIP":"10.96.0.70","ports":[{"port":%s}]}}\n' \
  "$deep" >"$work/hostile/deep.json"
printf '{"apiVersion":"v1","kind":%s,"metadata":{"name":"deepkind","namespace":"t"}}\n' "$deep" >"$work/hostile/deepkind.json"
printf '{"kind":"ServiceList","items":[%s]}\n' "$deep" >"$work/hostile/deepitem.json"
printf 'apiVersion: v1\nkind: Service\nmetadata: &m {name: loop, namespace: t, self: *m}\nspec: {clusterIP: 10.96.0.71}\n' \
  >"$work/hostile/cycle.yaml"
# Found by the manifest fuzzer: yaml-cpp 0.7 looped forever, allocating, on a document starting with ",".
printf ',piVpiVersion:spec v1\nkind: Service\n' >"$work/hostile/comma.yaml"
{
  printf 'apiVersion: v1\nkind: Service\nmetadata: {name: lol, namespace: t}\n'
  printf 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
  prev=a
  for c in b c d e f g h i; do
    printf '%s: &%s [*%s,*%s,*%s,*%s,*%s,*%s,*%s,*%s,*%s]\n' "$c" "$c" $prev $prev $prev $prev $prev $prev $prev $prev $prev
    prev=$c
  done
  printf 'spec: {clusterIP: 10.96.0.72, x: *i}\n'
} >"$work/hostile/laughs.yaml"
{
  printf 'apiVersion: v1\nkind: Service\nmetadata: {name: merge, namespace: t}\n'
  printf 'a0: &a0 {k0: v, k1: v, k2: v, k3: v, k4: v, k5: v, k6: v, k7: v}\n'
  for i in $(seq 1 12); do
    p=$((i - 1))
    printf 'a%d: &a%d {<<: *a%d, x: *a%d, y: *a%d, z: *a%d}\n' $i $i $p $p $p $p
  done
  printf 'spec: *a12\n'
} >"$work/hostile/merge.yaml"
printf '{"kind":"Service","metadata":{"name":"x\\nE1204 00:00:00.000000 1] forged line\\u001b[31m","namespace":"t"},"spec":{"clusterIP":"10.96.0.73"}}\n' \
  >"$work/hostile/evilname.json"
cat >"$work/hostile/future.yaml" <<'EOF'
kind: Service
metadata: {name: future, namespace: t}
spec: {clusterIP: 10.96.0.74, ports: [{name: http, port: 80, targetPort: 8080}]}
---
kind: EndpointSlice
metadata: {name: future-1, namespace: t, labels: {kubernetes.io/service-name: future},
           annotations: {endpoints.kubernetes.io/last-change-trigger-time: "9999-12-31T23:59:59Z"}}
addressType: IPv4
endpoints: [{addresses: [10.244.2.2]}]
ports: [{name: http, port: 8080}]
---
kind: EndpointSlice
metadata: {name: future-2, namespace: t, labels: {kubernetes.io/service-name: future},
           annotations: {endpoints.kubernetes.io/last-change-trigger-time: "2611-01-01T00:00:00Z"}}
addressType: IPv4
endpoints: [{addresses: [10.244.3.2]}]
ports: [{name: http, port: 8080}]
EOF
[ "$(wc -c <"$work/hostile/cycle.yaml")" -lt 128 ] && [ "$(wc -c <"$work/hostile/laughs.yaml")" -lt 1024 ] ||
  bad "reproducers larger than the issue's (about 100 and 700 bytes)"

# 1. kproxy render: exit 1, the object named, in bounded time and memory.
render_case() { # FILE EXPECTED-TEXT
  local rc=0 err
  err=$(timeout 30 prlimit --as=2147483648 "$build/kproxy" render --manifests "$work/hostile/$1" \
    --hostname-override node1 2>&1 >/dev/null) || rc=$?
  if [ "$rc" = 1 ] && grep -qF -- "$2" <<<"$err" && [ "$(wc -l <<<"$err")" -le 3 ]; then
    ok "render $1: exit 1, $(head -c 150 <<<"$err")"
  else bad "render $1: exit $rc, stderr: $(head -c 300 <<<"$err")"; fi
}
render_case deep.json 'Service t/deep: spec.ports[0].port: expected integer, got array'
render_case deepkind.json 'deepkind.json: object: kind: expected string, got array'
render_case deepitem.json 'deepitem.json: object: expected an object, got array'
render_case cycle.yaml 'cycle.yaml: object: refused: alias *m refers to a node that contains it (a cycle)'
render_case laughs.yaml 'laughs.yaml: object: refused: expands to more than its budget'
render_case merge.yaml 'merge.yaml: object: refused: expands to more than its budget'
render_case comma.yaml 'comma.yaml: object: malformed YAML: did not find expected node content at line 1, column 1'
render_case evilname.json 'Service t/x\nE1204 00:00:00.000000 1] forged line\x1b[31m: metadata.name'

# 2. The manifests daemon: each file dropped into its directory while it serves.
topo_start_kproxy "$build/kproxy" "$work/manifests" "$log" --proxy-mode iptables --iptables-backend nft \
  --iptables-min-sync-period 0
until_ok 15 web_answers && ok "kproxy serving web from manifests" || { cat "$log"; bad "web never answered"; exit 1; }
for f in deep.json deepkind.json deepitem.json cycle.yaml laughs.yaml merge.yaml comma.yaml evilname.json; do
  write "$f" <"$work/hostile/$f"
  if wait_log "$work/manifests/$f: " 10; then still_serving "manifests daemon, $f"
  else bad "manifests daemon, $f: no error line: $(tail -2 "$log")"; fi
  rm -f "$work/manifests/$f"
done
if grep -q '^E[0-9]* [0-9:.]* *1\] forged line' "$log" || grep -q $'\x1b' "$log"; then
  bad "a hostile name forged a log line or reached the log raw"
else ok "hostile name escaped in the log: $(grep -o 'Service t/x.\{0,40\}' "$log" | head -1)"; fi
write future.yaml <"$work/hostile/future.yaml"
if until_ok 10 bash -c "[ \"\$(ip netns exec $(topo_ns client) $build/kproxy-testclient tcp 10.96.0.74 80 1 2>&1 | awk '{print \$1}')\" != timeout ]"; then
  still_serving "trigger times in 9999 and 2611"
else bad "future: never programmed"; fi
truncate -s 65M "$work/manifests/huge.yaml"
wait_log "huge.yaml: object: 68157440 bytes, larger than the limit of 67108864" 10 &&
  still_serving "a 65 MiB manifest refused by size" || bad "huge manifest: $(tail -2 "$log")"
rm -f "$work/manifests/huge.yaml"
peak=$(peak_mb)
[ "$peak" -lt 200 ] && ok "manifests daemon peak RSS ${peak} MB through every reproducer (billion laughs took it past 2.5 GB)" ||
  bad "manifests daemon peak RSS $peak MB"

# 3. Floods of the health port: 1,000 idle connections and 20,000 requests, /healthz probed every
# 50 ms from another process meanwhile.
probe_loop() { # OUT STOPFILE
  while [ ! -e "$2" ]; do
    in_node curl -s -o /dev/null -m 2 -w '%{http_code} %{time_total}\n' http://127.0.0.1:10256/healthz >>"$1" || echo "000 2" >>"$1"
    sleep 0.05
  done
}
probe_loop "$work/probe.txt" "$work/probe.stop" &
probe_pid=$!
TOPO_PIDS+=("$probe_pid")
flood=$(in_node timeout 120 python3 "$here/../tools/http_flood.py" 127.0.0.1 10256 --idle 1000 --requests 20000 --threads 4 || true)
touch "$work/probe.stop"
wait "$probe_pid" 2>/dev/null || true
probes=$(wc -l <"$work/probe.txt")
slow=$(awk '$1 != 200 || $2 > 0.1' "$work/probe.txt" | wc -l)
worst=$(awk 'BEGIN { m = 0 } $2 > m { m = $2 } END { printf "%.0f", m * 1000 }' "$work/probe.txt")
if grep -q '"requests_ok": 20000' <<<"$flood" && [ "$probes" -ge 10 ] && [ "$slow" = 0 ]; then
  ok "1,000 idle connections + 20,000 requests: all answered, $probes probes of /healthz all 200 within 100 ms (worst ${worst} ms): $flood"
else bad "flood: $flood; $slow of $probes probes failed or slower than 100 ms (worst ${worst} ms)"; fi
still_serving "after the flood"

# 4. Descriptor exhaustion: kproxy limited to 64 descriptors, 160 idle connections hold them all;
# once they close, /healthz and the health-check node port answer again.
topo_stop_kproxy
KPROXY_PID=""
ip netns exec "$(topo_ns node)" prlimit --nofile=64:64 "$build/kproxy" --manifests "$work/manifests" --hostname-override node1 \
  --cluster-cidr 10.244.0.0/16 --proxy-mode iptables --iptables-backend nft >>"$log" 2>&1 &
KPROXY_PID=$!
TOPO_PIDS+=("$KPROXY_PID")
until_ok 15 bash -c "[ \"\$(ip netns exec $(topo_ns node) curl -s -o /dev/null -m 2 -w '%{http_code}' http://10.200.0.1:32001/)\" = 200 ]" ||
  bad "health check node port never answered under the fd limit"
hold=$(in_node timeout 60 python3 "$here/../tools/http_flood.py" 127.0.0.1 10256 --idle 160 --hold 3 2>&1 || true)
starved=$(grep -c 'accept failed (Too many open files' "$log" || true)
if grep -q 'retrying in 100ms' "$log" && until_ok 5 bash -c "[ \"\$(ip netns exec $(topo_ns node) curl -s -o /dev/null -m 2 -w '%{http_code}' http://127.0.0.1:10256/healthz)\" = 200 ]" &&
   until_ok 5 bash -c "[ \"\$(ip netns exec $(topo_ns node) curl -s -o /dev/null -m 2 -w '%{http_code}' http://10.200.0.1:32001/)\" = 200 ]"; then
  ok "fd limit 64 exhausted by 160 connections ($starved accept failures logged, $hold): /healthz and the health-check node port answer again"
else bad "after fd exhaustion: healthz=$(healthz), $starved accept failures, $hold"; fi
still_serving "after fd exhaustion"
topo_stop_kproxy

# 5. A misbehaving API server (HTTPS, token from a file kproxy re-reads per request).
api_certs "$work"
API_PERSIST=0 api_start "$work" --bookmark-interval 1
printf '%s\n' "$API_TOKEN" >"$work/token"
api_kubeconfig "$work" "$work/kubeconfig"
sed -i "s|    token: .*|    tokenFile: $work/token|" "$work/kubeconfig"
{
  printf '{"kind":"List","items":['
  printf '{"apiVersion":"v1","kind":"Service","metadata":{"name":"web","namespace":"t"},"spec":{"clusterIP":"10.96.0.80","ports":[{"name":"http","port":80,"targetPort":8080,"protocol":"TCP"}]}},'
  printf '{"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{"name":"web-1","namespace":"t","labels":{"kubernetes.io/service-name":"web"}},"addressType":"IPv4","endpoints":[{"addresses":["10.244.1.2"],"nodeName":"node1"},{"addresses":["10.244.2.2"],"nodeName":"node1"},{"addresses":["10.244.3.2"],"nodeName":"node1"}],"ports":[{"name":"http","port":8080,"protocol":"TCP"}]},'
  printf '{"apiVersion":"v1","kind":"Node","metadata":{"name":"node1","labels":{"kubernetes.io/hostname":"node1"}},"status":{"addresses":[{"type":"InternalIP","address":"10.200.0.1"}]}}'
  printf ']}\n'
} | api_apply
log="$work/kproxy-api.log"
ip netns exec "$(topo_ns node)" "$build/kproxy" --kubeconfig "$work/kubeconfig" --proxy-mode iptables --iptables-backend nft \
  --hostname-override node1 --cluster-cidr 10.244.0.0/16 --iptables-min-sync-period 0 --watch-timeout 2s >>"$log" 2>&1 &
KPROXY_PID=$!
TOPO_PIDS+=("$KPROXY_PID")
until_ok 20 web_answers && ok "kproxy serving web from the API server" || { tail -5 "$log"; bad "API: web never answered"; }
relist() { api_ctl POST "/expire?drop=1" >/dev/null; }
calm() { api_ctl POST "/hostile" >/dev/null; }

# 5a. A 401 that echoes the Authorization header: the token never reaches the log.
api_ctl POST "/hostile?mode=echo-auth" >/dev/null
relist
wait_log 'you sent Authorization: Bearer [redacted]' 10 && ! grep -qF "$API_TOKEN" "$log" &&
  ok "a server echoing the token in a 401: logged as [redacted], the token nowhere in the log" ||
  bad "echoed token: $(grep -c "$API_TOKEN" "$log") lines with the token"
calm
relist
still_serving "after the echoing server"

# 5b. A gzip bomb as a list (1 MB inflating to 512 MiB): cut at 32 MiB, smaller pages, backoff.
api_ctl POST "/hostile?mode=gzip-list&kind=Service" >/dev/null
relist
wait_log 'services: list failed: one object is larger than 33554432 bytes' 30 && log_has 'asking for pages of 1' &&
  ok "gzip bomb as a list: cut at 32 MiB, asked again in pages of 50, 5, 1, then backed off" ||
  bad "gzip list bomb: $(grep 'services:' "$log" | tail -2)"
calm
relist
still_serving "after the gzip list bomb"

# 5c. A gzip bomb on the watch (one 512 MiB line): the stream is cut at 16 MiB, with growing backoff.
api_ctl POST "/hostile?mode=gzip-watch&kind=Service" >/dev/null
api_ctl POST /drop >/dev/null
wait_log 'services: watch failed: a line longer than 16777216 bytes; retrying in' 20 &&
  wait_log 'longer than 16777216 bytes; retrying in' 20 && until_ok 20 bash -c "grep -q 'a line longer than 16777216 bytes; retrying in [0-9]*ms (attempt 3)' '$log'" &&
  ok "gzip bomb on the watch: cut at 16 MiB, resumed with backoff (attempt 3 reached)" ||
  bad "gzip watch bomb: $(grep 'watch failed' "$log" | tail -2)"
calm
api_ctl POST /drop >/dev/null
still_serving "after the gzip watch bomb"

# 5d. A 300 MB list (300 Services with a 1 MB annotation each): listed in small pages, bounded.
api_ctl POST "/hostile?mode=big-list&count=300&bytes=1000000" >/dev/null
relist
wait_log 'asking for pages of 5' 60 && ok "a 300 MB list: asked for in pages of 5" ||
  bad "big list: $(grep 'services:' "$log" | tail -2)"
sleep 3
calm
still_serving "after the 300 MB list"
peak=$(peak_mb)
[ "$peak" -lt 250 ] && ok "API daemon peak RSS ${peak} MB through the bombs and the 300 MB list (was 540-938 MB)" ||
  bad "API daemon peak RSS $peak MB"

# 5e. A watch at 2,000 events a second for 10 s (endpoint flips over 21 slices): memory stays
# bounded, the daemon keeps up, and the final state is programmed.
{
  printf '{"kind":"List","items":['
  for i in $(seq 1 20); do
    [ "$i" = 1 ] || printf ','
    printf '{"apiVersion":"v1","kind":"Service","metadata":{"name":"c%d","namespace":"t"},"spec":{"clusterIP":"10.96.1.%d","ports":[{"name":"http","port":80,"targetPort":8080,"protocol":"TCP"}]}},' "$i" "$i"
    printf '{"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{"name":"c%d-1","namespace":"t","labels":{"kubernetes.io/service-name":"c%d"}},"addressType":"IPv4","endpoints":[{"addresses":["10.244.1.2"],"conditions":{"ready":true},"nodeName":"node1"},{"addresses":["10.244.2.2"],"conditions":{"ready":true},"nodeName":"node1"}],"ports":[{"name":"http","port":8080,"protocol":"TCP"}]}' "$i" "$i"
  done
  printf ']}\n'
} | api_apply
until_ok 15 bash -c "ip netns exec $(topo_ns node) iptables-nft-save -t nat | grep -q 't/c20:http cluster IP'" || bad "c1..c20 never programmed"
rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$KPROXY_PID/status"; }
rss_before=$(rss_kb)
before=$(api_ctl GET /state | python3 -c 'import json,sys; print(json.load(sys.stdin)["churned"])')
api_ctl POST "/churn?rate=2000&seconds=10" >/dev/null
rss_max=0
for _ in $(seq 1 50); do
  r=$(rss_kb)
  [ "$r" -gt "$rss_max" ] && rss_max=$r
  sleep 0.25
done
sleep 1
churned=$(( $(api_ctl GET /state | python3 -c 'import json,sys; print(json.load(sys.stdin)["churned"])') - before ))
rss_after=$(rss_kb)
# Then one more change, which must be programmed as promptly as ever.
printf '{"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{"name":"c20-1","namespace":"t","labels":{"kubernetes.io/service-name":"c20"}},"addressType":"IPv4","endpoints":[{"addresses":["10.244.1.2"],"conditions":{"ready":true},"nodeName":"node1"},{"addresses":["10.244.2.2"],"conditions":{"ready":true},"nodeName":"node1"}],"ports":[{"name":"http","port":8080,"protocol":"TCP"}]}\n' | api_apply
c20() { [ "$(ip netns exec "$(topo_ns node)" iptables-nft-save -t nat | grep -c 't/c20:http -> ')" = 2 ]; }
if [ "$churned" -ge 15000 ] && until_ok 5 c20 && [ $((rss_max - rss_before)) -lt 51200 ] && [ "$rss_after" -lt $((rss_before + 20480)) ]; then
  ok "a watch at 2,000 events/s ($churned events in 10 s): RSS $((rss_before / 1024)) MB -> max $((rss_max / 1024)) MB -> $((rss_after / 1024)) MB, final state programmed"
else bad "2,000 events/s: $churned events, RSS $rss_before -> max $rss_max -> $rss_after kB, c20 endpoints: $(ip netns exec "$(topo_ns node)" iptables-nft-save -t nat | grep -c 't/c20:http -> ')"; fi
still_serving "after the event flood"

# 5f. A token file with CR LF: refused, no header injected.
api_ctl POST /clear-requests >/dev/null
printf 'abc\r\nX-Injected: yes\n' >"$work/token"
relist
wait_log "the bearer token in $work/token holds control characters; not sending it" 15 &&
  ! api_ctl GET /requests | grep -qi 'x-injected' &&
  ok "a token file holding CR LF: refused, no request carried an injected header" ||
  bad "CRLF token: $(api_ctl GET /requests | head -c 300)"
printf '%s\n' "$API_TOKEN" >"$work/token"
still_serving "after the bad token file was fixed"

live_finish
