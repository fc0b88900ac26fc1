# The test API server (tests/tools/test_apiserver.py) for root tests and benchmarks. Source it
# after topology.sh; everything runs inside the node namespace, on its 127.0.0.1.
#   api_certs DIR                   a CA, a server certificate for 127.0.0.1, a client certificate
#   api_start DIR [server flags]    starts the server (HTTPS, token "$API_TOKEN"); sets API_PORT,
#                                   API_CONTROL, API_PID (also in TOPO_PIDS, killed on cleanup);
#                                   its state survives restarts unless API_PERSIST=0; it speaks
#                                   protobuf too when $build/gen/python holds the generated
#                                   messages, unless API_JSON_ONLY=1
#   api_kubeconfig DIR FILE         a kubeconfig for it (CA data inline, token)
#   api_ctl POST|GET PATH [FILE]    a control call (body from FILE)
#   api_apply                       stdin (JSON object or List) -> POST /apply

API_TOKEN=${API_TOKEN:-kproxy-test-token-$$}
API_SERVER=${API_SERVER:-$(dirname "${BASH_SOURCE[0]}")/../tools/test_apiserver.py}
# Debian's python3, which has python3-protobuf (scripts/install-deps.sh), even when another
# python3 comes first on PATH.
API_PYTHON=${API_PYTHON:-$([ -x /usr/bin/python3 ] && echo /usr/bin/python3 || echo python3)}

api_certs() {
  local d=$1
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=kproxy-test-ca" \
    -keyout "$d/ca.key" -out "$d/ca.crt" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" -keyout "$d/server.key" -out "$d/server.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$d/san.ext"
  openssl x509 -req -in "$d/server.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial -days 2 \
    -extfile "$d/san.ext" -out "$d/server.crt" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=system:kube-proxy" -keyout "$d/client.key" -out "$d/client.csr" 2>/dev/null
  openssl x509 -req -in "$d/client.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial -days 2 \
    -out "$d/client.crt" 2>/dev/null
}

api_start() {
  local d=$1
  shift
  rm -f "$d/api.port" "$d/api.control"
  local state=(--state "$d/api.state")
  [ "${API_PERSIST:-1}" != 0 ] || state=()
  local wire=()
  [ -z "${build:-}" ] || [ ! -d "$build/gen/python/watch/proto" ] || wire=(--proto-py "$build/gen/python")
  [ "${API_JSON_ONLY:-0}" != 1 ] || wire+=(--json-only)
  ip netns exec "$(topo_ns node)" "$API_PYTHON" "$API_SERVER" --port "${API_PORT:-0}" --port-file "$d/api.port" \
    --control-port-file "$d/api.control" --cert "$d/server.crt" --key "$d/server.key" --client-ca "$d/ca.crt" \
    --token "$API_TOKEN" "${state[@]}" "${wire[@]}" "$@" >>"$d/apiserver.log" 2>&1 &
  API_PID=$!
  TOPO_PIDS+=("$API_PID")
  local i
  for i in $(seq 100); do
    [ -s "$d/api.port" ] && [ -s "$d/api.control" ] && break
    sleep 0.05
  done
  API_PORT=$(cat "$d/api.port")
  API_CONTROL=$(cat "$d/api.control")
}

api_stop() {
  kill -9 "$API_PID" 2>/dev/null || true
  wait "$API_PID" 2>/dev/null || true
}

api_kubeconfig() {
  local d=$1 out=$2
  cat >"$out" <<EOF
apiVersion: v1
kind: Config
current-context: test
contexts:
- name: test
  context: {cluster: test, user: kproxy}
clusters:
- name: test
  cluster:
    server: https://127.0.0.1:$API_PORT
    certificate-authority-data: $(base64 -w0 <"$d/ca.crt")
users:
- name: kproxy
  user:
    token: $API_TOKEN
EOF
}

api_ctl() {
  local method=$1 path=$2 body=${3:-}
  local args=(-sS -m 10 -X "$method" "http://127.0.0.1:$API_CONTROL$path")
  [ -z "$body" ] || args+=(--data-binary "@$body" -H 'Content-Type: application/json')
  ip netns exec "$(topo_ns node)" curl "${args[@]}"
}

api_apply() {
  local tmp
  tmp=$(mktemp)
  cat >"$tmp"
  api_ctl POST "/apply${1:-}" "$tmp" >/dev/null
  rm -f "$tmp"
}
