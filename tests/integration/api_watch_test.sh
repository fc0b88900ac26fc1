#!/usr/bin/env bash
# kproxy following a (test) API server over HTTPS with a bearer token, programming real rules in
# network namespaces: create, scale, delete, 410 relists with deletes missed while away, garbage
# on the stream, bad objects, an outage and restart of the server, Node deletion and /healthz.
# Usage: api_watch_test.sh BUILD_DIR. kproxy asks for protobuf (the default content type); with
# API_JSON_ONLY=1 the server speaks only JSON and kproxy must fall back to it. IP plan: topology.sh; the API server listens on the node
# namespace's 127.0.0.1. Services (namespace t):
#   web  10.96.0.80:80 -> pods      gone 10.96.0.81:80 -> pod-1     api2 10.96.0.90:80 -> pod-3
#   api3 10.96.0.91:80 -> pod-2     other 10.96.0.92 (belongs to another proxy: never programmed)
set -euo pipefail
here=$(dirname "$(readlink -f "$0")")
build=${1:?usage: $0 BUILD_DIR}
if [ "$(id -u)" -ne 0 ]; then
  echo "SKIP: needs root for network namespaces"
  exit 77
fi
for tool in python3 openssl curl; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool missing (scripts/install-deps.sh installs it)"; exit 77; }
done
TOPO_PREFIX="kproxy-test-api-$$"
TOPO_SAVE="iptables-nft-save"
. "$here/topology.sh"
. "$here/apiserver.sh"
work=$(mktemp -d)
trap 'topo_cleanup; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

passed=0
failed=0
ok() { echo "ok   $*"; passed=$((passed + 1)); }
bad() { echo "FAIL $*"; failed=$((failed + 1)); }
from() { local ns=$1; shift; ip netns exec "$(topo_ns "$ns")" "$build/kproxy-testclient" "$@" 2>&1 || true; }
count() { awk -v n="$1" '$1 == n { print $2; f = 1 } END { if (!f) print 0 }' <<<"$2"; }
http_get() {
  ip netns exec "$(topo_ns node)" timeout 5 bash -c \
    "exec 3<>/dev/tcp/$1/$2 && printf 'GET $3 HTTP/1.0\r\n\r\n' >&3 && cat <&3" 2>/dev/null || true
}
has_rule() { grep -q -- "$1" <<<"$(topo_save nat)"; }
no_rule() { ! has_rule "$1"; }
answers() { # IP POD...: 30 connections all answered, each listed pod answers, no other does
  local out n=0 p
  out=$(from client tcp "$1" 80 30)
  shift
  for p in "$@"; do [ "$(count "pod-$p" "$out")" -gt 0 ] || return 1; n=$((n + $(count "pod-$p" "$out"))); done
  [ "$n" = 30 ]
}

# Objects in full API form, as `kubectl get -o json` shows them.
service() { # NAME IP [labels-json]
  printf '{"apiVersion":"v1","kind":"Service","metadata":{"name":"%s","namespace":"t","labels":%s},"spec":{"clusterIP":"%s","clusterIPs":["%s"],"internalTrafficPolicy":"Cluster","ipFamilies":["IPv4"],"ipFamilyPolicy":"SingleStack","ports":[{"name":"http","port":80,"protocol":"TCP","targetPort":8080}],"selector":{"app":"%s"},"sessionAffinity":"None","type":"ClusterIP"},"status":{"loadBalancer":{}}}\n' \
    "$1" "${3:-"{\"app\":\"$1\"}"}" "$2" "$2" "$1"
}
slice() { # SERVICE POD... (N, or N:notready)
  local svc=$1 eps="" p ready
  shift
  for p in "$@"; do
    ready=true
    [ "${p#*:}" = notready ] && ready=false
    eps+="${eps:+,}{\"addresses\":[\"10.244.${p%%:*}.2\"],\"conditions\":{\"ready\":$ready,\"serving\":$ready,\"terminating\":false},\"nodeName\":\"node1\",\"targetRef\":{\"kind\":\"Pod\",\"name\":\"$svc-${p%%:*}\",\"namespace\":\"t\",\"uid\":\"0000000$p\"}}"
  done
  printf '{"addressType":"IPv4","apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{"name":"%s-x7k2p","generateName":"%s-","namespace":"t","labels":{"endpointslice.kubernetes.io/managed-by":"endpointslice-controller.k8s.io","kubernetes.io/service-name":"%s"},"ownerReferences":[{"apiVersion":"v1","kind":"Service","name":"%s","uid":"6f1e","controller":true,"blockOwnerDeletion":true}]},"endpoints":%s,"ports":[{"name":"http","port":8080,"protocol":"TCP"}]}\n' \
    "$svc" "$svc" "$svc" "$svc" "$( [ -n "$eps" ] && echo "[$eps]" || echo null)"
}
node() { # [deletionTimestamp]
  local del=""
  [ -z "${1:-}" ] || del=",\"deletionTimestamp\":\"$1\""
  printf '{"apiVersion":"v1","kind":"Node","metadata":{"name":"node1","labels":{"kubernetes.io/hostname":"node1","topology.kubernetes.io/zone":"z1"}%s},"spec":{"podCIDR":"10.244.0.0/16"},"status":{"addresses":[{"type":"InternalIP","address":"10.200.0.1"},{"type":"Hostname","address":"node1"}]}}\n' "$del"
}
list() { printf '{"kind":"List","apiVersion":"v1","items":['; paste -sd, -; printf ']}\n'; }

topo_up "$build/kproxy-testserver"
api_certs "$work"
api_start "$work" --bookmark-interval 1
{
  node
  service web 10.96.0.80; slice web 1 2
  service gone 10.96.0.81; slice gone 1
  service other 10.96.0.92 '{"service.kubernetes.io/service-proxy-name":"someone-else"}'; slice other 1
  # A Service with a port out of range: reported by name, skipped, the others unaffected.
  printf '{"apiVersion":"v1","kind":"Service","metadata":{"name":"bad","namespace":"t"},"spec":{"clusterIP":"10.96.0.93","ports":[{"port":70000}]}}\n'
} | list | api_apply
api_kubeconfig "$work" "$work/kubeconfig"

# 1. The API server is down at start: kproxy retries and programs nothing.
api_stop
log="$work/kproxy.log"
ip netns exec "$(topo_ns node)" "$build/kproxy" --master "https://127.0.0.1:$API_PORT" --kubeconfig "$work/kubeconfig" \
  --proxy-mode iptables --iptables-backend nft --hostname-override node1 --cluster-cidr 10.244.0.0/16 \
  --iptables-min-sync-period 0 --watch-timeout 2s >>"$log" 2>&1 &
KPROXY_PID=$!
TOPO_PIDS+=("$KPROXY_PID")
sleep 2
if no_rule 'KUBE-SVC-' && grep -q 'list failed: .*Failed to connect to 127.0.0.1' "$log"; then
  ok "API server unreachable at start: retrying, nothing programmed"
else bad "with the API server down: $(tail -3 "$log")"; fi

# 2. It comes up: the listing is programmed; the bad Service is named and skipped.
api_start "$work" --bookmark-interval 1
if until_ok 15 has_rule 't/gone:http cluster IP' && answers 10.96.0.80 1 2; then
  ok "API server up: initial listing programmed, web answered by pod-1 and pod-2"
else bad "initial listing not programmed: $(tail -5 "$log")"; fi
grep -q 'Service t/bad: spec.ports\[0\].port: 70000 is out of range' "$log" && ok "bad Service reported by name and field" ||
  bad "no error line for t/bad"
no_rule '10.96.0.92' && ok "Service of another proxy (service-proxy-name label) not programmed" || bad "t/other was programmed"

# kproxy trace reads the same API (one listing) and agrees with the kernel and a probe.
out=$(ip netns exec "$(topo_ns node)" "$build/kproxy" trace 10.96.0.80:80 --kubeconfig "$work/kubeconfig" \
  --hostname-override node1 --cluster-cidr 10.244.0.0/16 --iptables-backend nft --kernel --probe 2>"$work/trace.err" || true)
if [ "$(head -1 <<<"$out")" = "reachable: 2 endpoints (2 ready)" ] && grep -q '^probe: *answered by 10.244.[12].2:8080' <<<"$out"; then
  ok "kproxy trace through the API server: reachable, probe answered"
else bad "kproxy trace through the API: $out $(cat "$work/trace.err")"; fi

# 3. Create, scale and delete through the API.
{ service api2 10.96.0.90; slice api2 3; } | list | api_apply
until_ok 10 answers 10.96.0.90 3 && ok "Service created through the API answers" || bad "api2 never answered"
slice web 1 2 3 | api_apply
until_ok 10 answers 10.96.0.80 1 2 3 && ok "scaled to three endpoints through the API" || bad "web did not scale up"
api_ctl POST "/delete?kind=Service&namespace=t&name=api2" >/dev/null
if until_ok 10 no_rule '10.96.0.90'; then
  out=$(from client tcp 10.96.0.90 80 1 --timeout-ms 500)
  [ "$(count refused "$out") $(count timeout "$out")" != "0 0" ] && ok "deleted Service: rules gone, not answered" ||
    bad "deleted Service still answers: $out"
else bad "rules of the deleted Service stay"; fi

# 4. Away through a compaction: changes and a delete made while kproxy's watches were cut and
# the server hung come back as a 410, a relist, and the delete seen as absence.
lists_before=$(api_ctl GET /requests | grep -o '"path": "/api/v1/services", "query": {"limit"' | wc -l)
api_ctl POST /hang >/dev/null
api_ctl POST "/delete?kind=Service&namespace=t&name=gone" >/dev/null
slice web 1 | api_apply
api_ctl POST "/expire?drop=1" >/dev/null
sleep 1
api_ctl POST /unhang >/dev/null
if until_ok 10 no_rule '10.96.0.81' && until_ok 10 answers 10.96.0.80 1; then
  lists_after=$(api_ctl GET /requests | grep -o '"path": "/api/v1/services", "query": {"limit"' | wc -l)
  if grep -q 'expired (410); relisting' "$log" && [ "$lists_after" -gt "$lists_before" ]; then
    ok "410 after a compaction: relisted, the Service deleted meanwhile is gone, web scaled down"
  else bad "changes arrived but not through a relist ($lists_before -> $lists_after lists)"; fi
else bad "after the 410: gone still programmed or web not scaled: $(grep -c relist "$log") relists"; fi

# 4b. A server that goes silent (no events, no bookmarks, no end): kproxy drops the stream once it
# has been silent past its timeout and watches again; a change made meanwhile arrives.
api_ctl POST /hang >/dev/null
deadline=$((SECONDS + 15))
while [ $SECONDS -lt $deadline ] && ! grep -q 'watch failed: nothing received for' "$log"; do sleep 0.2; done
slice web 1 3 | api_apply
api_ctl POST /unhang >/dev/null
if grep -q 'watch failed: nothing received for' "$log" && until_ok 10 answers 10.96.0.80 1 3; then
  ok "silent watch stream dropped after its timeout, resumed, the change made meanwhile applied"
else bad "silent stream: $(grep -c 'nothing received' "$log") idle drops"; fi

# 5. Garbage on the stream is logged and skipped; later events still apply. JSON: a malformed
# line, a wrong-typed and an unknown event, an object 85,000 levels deep; protobuf: a truncated
# frame, an object of a kind kproxy does not read, an unknown event.
api_ctl POST /garbage >/dev/null
sleep 0.5
slice web 1 2 | api_apply
if [ "${API_JSON_ONLY:-0}" = 1 ]; then
  garbage_named() { grep -q 'Service t/deep: spec.ports\[0\]: expected object, got array' "$log"; }
else
  garbage_named() { grep -q 'watch event skipped: malformed protobuf watch event' "$log" &&
    grep -q 'protobuf object of kind "Pod" is not one kproxy reads' "$log"; }
fi
if until_ok 10 answers 10.96.0.80 1 2 && grep -q 'watch event skipped' "$log" && garbage_named; then
  ok "garbage on the watch stream skipped and named, the next change applied"
else bad "after garbage: $(grep 'watch event skipped' "$log" | head -5)"; fi

# 6. A label that hands the Service to another proxy removes it (the watch says DELETED).
{ service web2 10.96.0.94; slice web2 2; } | list | api_apply
until_ok 10 has_rule '10.96.0.94' || true
service web2 10.96.0.94 '{"service.kubernetes.io/service-proxy-name":"someone-else"}' | api_apply
until_ok 10 no_rule '10.96.0.94' && ok "Service relabelled for another proxy: rules removed" || bad "web2 still programmed"

# 7. The server is killed: rules stay and traffic flows, /healthz stays 200; it restarts and
# later changes apply.
api_stop
outage=$(from client tcp 10.96.0.80 80 60)
health=$(http_get 127.0.0.1 10256 /healthz)
if [ "$(( $(count pod-1 "$outage") + $(count pod-2 "$outage") ))" = 60 ] && grep -q '^HTTP/1.0 200' <<<"$health"; then
  ok "API server down: 60 of 60 connections answered, /healthz 200"
else bad "during the outage: $(tr '\n' ' ' <<<"$outage"), health $(head -1 <<<"$health")"; fi
sleep 1
api_start "$work" --bookmark-interval 1
{ service api3 10.96.0.91; slice api3 2; } | list | api_apply
until_ok 20 answers 10.96.0.91 2 && ok "API server restarted: a later Service is programmed" ||
  bad "no recovery after the restart: $(tail -5 "$log")"

# 8. A Node being deleted fails /healthz (not /livez), as kube-proxy's does.
node "2026-11-25T10:00:00Z" | api_apply
deadline=$((SECONDS + 10))
while [ $SECONDS -lt $deadline ] && ! grep -q '^HTTP/1.0 503' <<<"$(http_get 127.0.0.1 10256 /healthz)"; do sleep 0.2; done
h=$(http_get 127.0.0.1 10256 /healthz)
l=$(http_get 127.0.0.1 10256 /livez)
if grep -q '^HTTP/1.0 503' <<<"$h" && grep -q '"nodeEligible":false' <<<"$h" && grep -q '^HTTP/1.0 200' <<<"$l"; then
  ok "Node with a deletionTimestamp: /healthz 503 nodeEligible false, /livez 200"
else bad "Node deletion: healthz $(head -1 <<<"$h"), livez $(head -1 <<<"$l")"; fi
node | api_apply

# 9. What kproxy asked for: protobuf then JSON, gzip, its token, kube-proxy's selectors, and what
# it got (protobuf, or JSON from a JSON-only server); the token never logged.
reqs=$(api_ctl GET /requests)
wire=protobuf
[ "${API_JSON_ONLY:-0}" != 1 ] || wire=json
served_other=$(grep -o '"path": "/api[^"]*", "query": {[^}]*}, "auth": "[a-z]*", "served": "[a-z]*"' <<<"$reqs" |
  grep -v "\"served\": \"$wire\"" | head -3 || true)
if grep -q '"path": "/api/v1/services", "query": {[^}]*"labelSelector": "!service.kubernetes.io/headless,!service.kubernetes.io/service-proxy-name"' <<<"$reqs" &&
   grep -q '"path": "/api/v1/nodes", "query": {[^}]*"fieldSelector": "metadata.name=node1"' <<<"$reqs" &&
   grep -q '"allowWatchBookmarks": "true"' <<<"$reqs" && ! grep -q '"auth": "rejected"' <<<"$reqs" &&
   grep -q '"accept": "application/vnd.kubernetes.protobuf, application/json", "acceptEncoding": "gzip"' <<<"$reqs" &&
   ! grep -q '"accept": "application/json"' <<<"$reqs" && [ -z "$served_other" ]; then
  ok "requests: kube-proxy's selectors, bookmarks, Accept protobuf then JSON, gzip, all authenticated, every one served $wire"
else bad "requests: ${served_other:+not $wire: $served_other; }$(head -c 600 <<<"$reqs")"; fi
grep -q "$API_TOKEN" "$log" && bad "the token appears in kproxy's log" || ok "the token is not in the log"

# 10. A client certificate instead of a token (kubeconfig client-certificate-data/-key-data);
# the restarted kproxy keeps serving the same rules.
topo_stop_kproxy
sed -e '/token:/d' "$work/kubeconfig" >"$work/kubeconfig-cert"
printf '    client-certificate-data: %s\n    client-key-data: %s\n' "$(base64 -w0 <"$work/client.crt")" \
  "$(base64 -w0 <"$work/client.key")" >>"$work/kubeconfig-cert"
api_ctl POST /clear-requests >/dev/null
ip netns exec "$(topo_ns node)" "$build/kproxy" --kubeconfig "$work/kubeconfig-cert" --iptables-backend nft \
  --hostname-override node1 --cluster-cidr 10.244.0.0/16 --iptables-min-sync-period 0 >>"$log" 2>&1 &
KPROXY_PID=$!
TOPO_PIDS+=("$KPROXY_PID")
slice api3 3 | api_apply
if until_ok 15 answers 10.96.0.91 3 && grep -q '"auth": "cert"' <<<"$(api_ctl GET /requests)" &&
   ! grep -q '"auth": "rejected"' <<<"$(api_ctl GET /requests)"; then
  ok "client-certificate authentication: listed, watched and applied a change"
else bad "client certificate: $(tail -3 "$log")"; fi

# 11. Streaming lists: against a server with WatchList, the initial state comes as a watch with
# sendInitialEvents=true ending at the initial-events-end bookmark, no paginated list; a 410
# relists the same way, and a Service deleted meanwhile is seen as absent. (Every run above went
# to a server without it: one refused attempt per stream, then paginated lists.)
topo_stop_kproxy
api_stop
api_start "$work" --bookmark-interval 1 --watch-list
api_ctl POST /clear-requests >/dev/null
{ service api4 10.96.0.95; slice api4 1; } | list | api_apply
ip netns exec "$(topo_ns node)" "$build/kproxy" --kubeconfig "$work/kubeconfig" --iptables-backend nft \
  --hostname-override node1 --cluster-cidr 10.244.0.0/16 --iptables-min-sync-period 0 --watch-timeout 2s >>"$log" 2>&1 &
KPROXY_PID=$!
TOPO_PIDS+=("$KPROXY_PID")
streamed() { api_ctl GET /requests | grep -o "\"path\": \"$1\", \"query\": {[^}]*\"sendInitialEvents\": \"true\"" | wc -l; }
paged() { api_ctl GET /requests | grep -o "\"path\": \"$1\", \"query\": {\"limit\"" | wc -l; }
if until_ok 15 answers 10.96.0.95 1 && until_ok 15 answers 10.96.0.91 3 && [ "$(streamed /api/v1/services)" -ge 1 ] &&
   [ "$(streamed /apis/discovery.k8s.io/v1/endpointslices)" -ge 1 ] && [ "$(streamed /api/v1/nodes)" -ge 1 ] &&
   [ "$(paged /api/v1/services)" = 0 ] && [ "$(paged /apis/discovery.k8s.io/v1/endpointslices)" = 0 ]; then
  ok "streaming lists: Services, EndpointSlices and the Node listed by sendInitialEvents watches, no paginated list; rules programmed"
else bad "streaming lists: streamed $(streamed /api/v1/services), paged $(paged /api/v1/services); $(tail -3 "$log")"; fi
before=$(streamed /api/v1/services)
api_ctl POST /hang >/dev/null
api_ctl POST "/delete?kind=Service&namespace=t&name=api4" >/dev/null
api_ctl POST "/expire?drop=1" >/dev/null
sleep 1
api_ctl POST /unhang >/dev/null
if until_ok 15 no_rule '10.96.0.95' && [ "$(streamed /api/v1/services)" -gt "$before" ] && [ "$(paged /api/v1/services)" = 0 ] &&
   answers 10.96.0.91 3; then
  ok "410 with streaming lists: relisted by a new sendInitialEvents watch; the Service deleted meanwhile is gone, the rest stays"
else bad "streamed relist: $(streamed /api/v1/services) streamed (was $before), $(paged /api/v1/services) paged"; fi

topo_stop_kproxy
# Under a sanitizer build (tests/integration/api_watch_test.sh build-asan) reports land here.
if grep -q 'AddressSanitizer\|LeakSanitizer\|runtime error:' "$log"; then bad "sanitizer report in kproxy's log"
else ok "kproxy exited cleanly on SIGTERM, no sanitizer report"; fi

echo "$passed passed, $failed failed"
if [ "$failed" != 0 ]; then
  echo "--- kproxy log (last 80 lines)"
  tail -80 "$log"
  echo "--- API server log"
  tail -20 "$work/apiserver.log"
fi
[ "$failed" = 0 ]
