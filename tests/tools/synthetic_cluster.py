#!/usr/bin/env python3
"""N Services x 10 endpoints in full API form, as one List for the test API server's /apply
(bench/watch_latency.sh, bench/soak.sh). Service i is svc-i at 10.96.x.y with endpoints
10.128.x.y spread over node0..node4.

  synthetic_cluster.py N [NAMESPACE]
"""
import json
import sys


def main():
    n = int(sys.argv[1])
    namespace = sys.argv[2] if len(sys.argv) > 2 else "bench"
    items = []
    for i in range(n):
        name = "svc-%d" % i
        ip = "10.96.%d.%d" % ((i + 1) // 256, (i + 1) % 256)
        items.append({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": namespace},
                      "spec": {"clusterIP": ip, "clusterIPs": [ip], "ipFamilies": ["IPv4"], "type": "ClusterIP",
                               "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}]}})
        eps = [{"addresses": ["10.128.%d.%d" % ((i * 10 + j) // 256, (i * 10 + j) % 256)],
                "conditions": {"ready": True, "serving": True, "terminating": False}, "nodeName": "node%d" % (j % 5)}
               for j in range(10)]
        items.append({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                      "metadata": {"name": name + "-x7k2p", "namespace": namespace,
                                   "labels": {"kubernetes.io/service-name": name}},
                      "addressType": "IPv4", "endpoints": eps,
                      "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]})
    print(json.dumps({"kind": "List", "items": items}))


if __name__ == "__main__":
    main()
