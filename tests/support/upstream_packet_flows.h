// Upstream's packet-flow tables, as facts: the Services and EndpointSlices of tests in
// kubernetes/kubernetes pkg/proxy/iptables/proxier_test.go and nftables/proxier_test.go (the
// newest versions the reference corpus holds: 1.33 or later, with nfacct rules and testNodeIPs;
// the nftables file's stored commit is 81810de) written as manifests, and each test packet with the
// destination upstream's tracer finds ("ip:port, ip:port", "REJECT", "DROP", "ACCEPT", or "" for
// no rule of ours) and whether it is masqueraded. kproxy renders its own rules for the same
// objects and its trace evaluators (iptables and nftables) must find the same outcomes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dataplane/model.h"

namespace kproxy::testing::upstream {

// Upstream's conventions (NewFakeProxier): pods 10.0.0.0/8, node test-node at 192.168.0.2 with
// 192.168.1.2 and 192.168.99.11 also local, clients 203.0.113.2 (in the LB source range
// 203.0.113.0/25) and 203.0.113.130 (outside it).
inline constexpr const char* kNodeName = "test-node";
inline constexpr const char* kNodeIP = "192.168.0.2";
inline constexpr const char* kNodeIPAlt = "192.168.1.2";
inline constexpr const char* kExternalIP = "192.168.99.11";
inline constexpr const char* kExternalClient = "203.0.113.2";
inline constexpr const char* kExternalClientBlocked = "203.0.113.130";
inline constexpr const char* kPodCIDR = "10.0.0.0/8";
inline const std::vector<std::string> kNodeIPs = {kNodeIP, kNodeIPAlt, kExternalIP};
inline constexpr const char* kServiceCIDR = "172.30.0.0/16";  // nftables' fake proxier's

struct Flow {
  const char* name;
  std::string source;
  model::Protocol protocol;
  std::string dest;
  uint16_t port;
  std::string output;
  bool masq;
};

struct FlowTest {
  std::string test;       // upstream's test function
  std::string manifests;  // YAML
  std::vector<Flow> flows;
  // Where upstream's nftables test expects something else (its fake proxier serves NodePorts
  // on 192.168.0.2 only and nftables has no localhost NodePorts): flow name -> output, or
  // kNotInNftables for a flow that test does not have.
  std::vector<std::pair<std::string, std::string>> nftablesOutput = {};
  bool inNftables = true;  // upstream's nftables tests have it
  std::vector<Flow> nftablesOnly = {};  // flows upstream's nftables test adds
  bool masqueradeAll = false;
  bool localDetector = true;  // false: upstream's NoOpLocalDetector (no cluster CIDR)
  std::string variant = {};   // upstream's sub-test, if any
};

inline constexpr const char* kIptablesSource = "1.33+ (nfacct, testNodeIPs)";
inline constexpr const char* kNftablesSource = "81810de";
inline constexpr const char* kNotInNftables = "(not in upstream's nftables test)";

using P = model::Protocol;

inline std::vector<FlowTest> flowTests() {
  return {
      // TestTracePacket's flows, over the rules TestOverallIPTablesRules' Services produce.
      {"TestOverallIPTablesRules (TestTracePacket flows)", R"(
kind: Service
metadata: {name: svc1, namespace: ns1}
spec: {clusterIP: 172.30.0.41, ports: [{name: p80, port: 80, protocol: TCP}]}
---
kind: Service
metadata: {name: svc2, namespace: ns2}
spec:
  type: LoadBalancer
  externalTrafficPolicy: Local
  clusterIP: 172.30.0.42
  ports: [{name: p80, port: 80, protocol: TCP, nodePort: 3001}]
  externalIPs: [192.168.99.22]
  healthCheckNodePort: 30000
status: {loadBalancer: {ingress: [{ip: 1.2.3.4}]}}
---
kind: Service
metadata: {name: svc3, namespace: ns3}
spec: {type: NodePort, clusterIP: 172.30.0.43, ports: [{name: p80, port: 80, protocol: TCP, nodePort: 3003}]}
---
kind: Service
metadata: {name: svc4, namespace: ns4}
spec: {type: NodePort, clusterIP: 172.30.0.44, externalIPs: [192.168.99.33], ports: [{name: p80, port: 80, protocol: TCP, targetPort: 80}]}
---
kind: Service
metadata: {name: svc5, namespace: ns5}
spec:
  type: LoadBalancer
  externalTrafficPolicy: Cluster
  clusterIP: 172.30.0.45
  ports: [{name: p80, port: 80, protocol: TCP, nodePort: 3002}]
  healthCheckNodePort: 30000
  loadBalancerSourceRanges: [" 203.0.113.0/25"]
  sessionAffinity: ClientIP
  sessionAffinityConfig: {clientIP: {timeoutSeconds: 10800}}
status: {loadBalancer: {ingress: [{ip: 5.6.7.8}]}}
---
kind: Service
metadata: {name: svc6, namespace: ns6}
spec: {type: ClusterIP, clusterIP: 172.30.0.46, ports: [{name: p80, port: 80, protocol: TCP, targetPort: 80}]}
---
kind: EndpointSlice
metadata: {name: svc1-1, namespace: ns1, labels: {kubernetes.io/service-name: svc1}}
addressType: IPv4
endpoints: [{addresses: [10.180.0.1]}]
ports: [{name: p80, port: 80, protocol: TCP}]
---
kind: EndpointSlice
metadata: {name: svc2-1, namespace: ns2, labels: {kubernetes.io/service-name: svc2}}
addressType: IPv4
endpoints: [{addresses: [10.180.0.2]}]
ports: [{name: p80, port: 80, protocol: TCP}]
---
kind: EndpointSlice
metadata: {name: svc3-1, namespace: ns3, labels: {kubernetes.io/service-name: svc3}}
addressType: IPv4
endpoints: [{addresses: [10.180.0.3]}]
ports: [{name: p80, port: 80, protocol: TCP}]
---
kind: EndpointSlice
metadata: {name: svc4-1, namespace: ns4, labels: {kubernetes.io/service-name: svc4}}
addressType: IPv4
endpoints: [{addresses: [10.180.0.4]}, {addresses: [10.180.0.5], nodeName: test-node}]
ports: [{name: p80, port: 80, protocol: TCP}]
---
kind: EndpointSlice
metadata: {name: svc5-1, namespace: ns5, labels: {kubernetes.io/service-name: svc5}}
addressType: IPv4
endpoints: [{addresses: [10.180.0.3]}]
ports: [{name: p80, port: 80, protocol: TCP}]
)",
       {
           {"no match", "10.0.0.2", P::kTCP, "10.0.0.3", 80, "", false},
           {"single endpoint", "10.0.0.2", P::kTCP, "172.30.0.41", 80, "10.180.0.1:80", false},
           {"multiple endpoints", "10.0.0.2", P::kTCP, "172.30.0.44", 80, "10.180.0.4:80, 10.180.0.5:80", false},
           {"LOCAL, KUBE-MARK-MASQ", kNodeIP, P::kTCP, "192.168.99.22", 80, "10.180.0.2:80", true},
           {"DROP", kExternalClient, P::kTCP, "192.168.99.22", 80, "DROP", false},
           {"ACCEPT (NodePortHealthCheck)", kNodeIP, P::kTCP, kNodeIP, 30000, "ACCEPT", false},
           {"REJECT", "10.0.0.2", P::kTCP, "172.30.0.46", 80, "REJECT", false},
       },
       {},
       false},
      {"TestNoEndpointsReject", R"(
kind: Service
metadata: {name: svc1, namespace: ns1}
spec:
  type: LoadBalancer
  clusterIP: 172.30.0.41
  externalIPs: [192.168.99.11]
  ports: [{name: p80, protocol: TCP, port: 80, nodePort: 3001}]
status: {loadBalancer: {ingress: [{ip: 1.2.3.4}]}}
)",
       {
           {"pod to cluster IP with no endpoints", "10.0.0.2", P::kTCP, "172.30.0.41", 80, "REJECT", false},
           {"external to external IP with no endpoints", kExternalClient, P::kTCP, "192.168.99.11", 80, "REJECT", false},
           {"pod to NodePort with no endpoints", "10.0.0.2", P::kTCP, kNodeIP, 3001, "REJECT", false},
           {"external to NodePort with no endpoints", kExternalClient, P::kTCP, kNodeIP, 3001, "REJECT", false},
           {"pod to LoadBalancer IP with no endpoints", "10.0.0.2", P::kTCP, "1.2.3.4", 80, "REJECT", false},
           {"external to LoadBalancer IP with no endpoints", kExternalClient, P::kTCP, "1.2.3.4", 80, "REJECT", false},
       }},
      {"TestClusterIPGeneral", R"(
kind: Service
metadata: {name: svc1, namespace: ns1}
spec: {clusterIP: 172.30.0.41, ports: [{name: http, port: 80, protocol: TCP}]}
---
kind: Service
metadata: {name: svc2, namespace: ns2}
spec:
  clusterIP: 172.30.0.42
  ports:
  - {name: http, port: 80, protocol: TCP}
  - {name: https, port: 443, protocol: TCP, targetPort: 8443}
  - {name: dns-udp, port: 53, protocol: UDP}
  - {name: dns-tcp, port: 53, protocol: TCP, targetPort: 5353}
  - {name: dns-sctp, port: 53, protocol: SCTP}
---
kind: EndpointSlice
metadata: {name: svc1-1, namespace: ns1, labels: {kubernetes.io/service-name: svc1}}
addressType: IPv4
endpoints: [{addresses: [10.180.0.1], nodeName: test-node}]
ports: [{name: http, port: 80, protocol: TCP}]
---
kind: EndpointSlice
metadata: {name: svc2-1, namespace: ns2, labels: {kubernetes.io/service-name: svc2}}
addressType: IPv4
endpoints: [{addresses: [10.180.0.1], nodeName: test-node}, {addresses: [10.180.2.1], nodeName: node2}]
ports:
- {name: http, port: 80, protocol: TCP}
- {name: https, port: 8443, protocol: TCP}
- {name: dns-udp, port: 53, protocol: UDP}
- {name: dns-tcp, port: 5353, protocol: TCP}
- {name: dns-sctp, port: 53, protocol: SCTP}
)",
       {
           {"simple clusterIP", "10.180.0.2", P::kTCP, "172.30.0.41", 80, "10.180.0.1:80", false},
           {"hairpin to cluster IP", "10.180.0.1", P::kTCP, "172.30.0.41", 80, "10.180.0.1:80", true},
           {"clusterIP with multiple endpoints", "10.180.0.2", P::kTCP, "172.30.0.42", 80, "10.180.0.1:80, 10.180.2.1:80", false},
           {"clusterIP with TargetPort", "10.180.0.2", P::kTCP, "172.30.0.42", 443, "10.180.0.1:8443, 10.180.2.1:8443", false},
           {"clusterIP with TCP, UDP, and SCTP on same port (TCP)", "10.180.0.2", P::kTCP, "172.30.0.42", 53,
            "10.180.0.1:5353, 10.180.2.1:5353", false},
           {"clusterIP with TCP, UDP, and SCTP on same port (UDP)", "10.180.0.2", P::kUDP, "172.30.0.42", 53,
            "10.180.0.1:53, 10.180.2.1:53", false},
           {"clusterIP with TCP, UDP, and SCTP on same port (SCTP)", "10.180.0.2", P::kSCTP, "172.30.0.42", 53,
            "10.180.0.1:53, 10.180.2.1:53", false},
           {"TCP-only port does not match UDP traffic", "10.180.0.2", P::kUDP, "172.30.0.42", 80, "", false},
           {"svc1 does not accept svc2's ports", "10.180.0.2", P::kTCP, "172.30.0.41", 443, "", false},
       },
       // nftables rejects other ports of a ClusterIP (cluster-ips-check) and drops unallocated
       // addresses of the ServiceCIDR (its fake proxier's 172.30.0.0/16).
       {{"TCP-only port does not match UDP traffic", "REJECT"}, {"svc1 does not accept svc2's ports", "REJECT"}},
       true,
       {{"packet to unallocated cluster ip", "10.180.0.2", P::kTCP, "172.30.0.50", 80, "DROP", false}}},
      {"TestLoadBalancer", R"(
kind: Service
metadata: {name: svc1, namespace: ns1}
spec:
  type: LoadBalancer
  clusterIP: 172.30.0.41
  ports: [{name: p80, port: 80, protocol: TCP, nodePort: 3001}]
  loadBalancerSourceRanges: [192.168.0.0/24, " 203.0.113.0/25"]
status: {loadBalancer: {ingress: [{ip: 1.2.3.4}, {ip: 5.6.7.8}]}}
---
kind: EndpointSlice
metadata: {name: svc1-1, namespace: ns1, labels: {kubernetes.io/service-name: svc1}}
addressType: IPv4
endpoints: [{addresses: [10.180.0.1]}]
ports: [{name: p80, port: 80, protocol: TCP}]
)",
       {
           {"pod to cluster IP", "10.0.0.2", P::kTCP, "172.30.0.41", 80, "10.180.0.1:80", false},
           {"external to nodePort", kExternalClient, P::kTCP, kNodeIP, 3001, "10.180.0.1:80", true},
           {"nodePort bypasses LoadBalancerSourceRanges", kExternalClientBlocked, P::kTCP, kNodeIP, 3001, "10.180.0.1:80", true},
           {"accepted external to LB1", kExternalClient, P::kTCP, "1.2.3.4", 80, "10.180.0.1:80", true},
           {"accepted external to LB2", kExternalClient, P::kTCP, "5.6.7.8", 80, "10.180.0.1:80", true},
           {"blocked external to LB1", kExternalClientBlocked, P::kTCP, "1.2.3.4", 80, "DROP", false},
           {"blocked external to LB2", kExternalClientBlocked, P::kTCP, "5.6.7.8", 80, "DROP", false},
           {"pod to LB1 (blocked by LoadBalancerSourceRanges)", "10.0.0.2", P::kTCP, "1.2.3.4", 80, "DROP", false},
           {"pod to LB2 (blocked by LoadBalancerSourceRanges)", "10.0.0.2", P::kTCP, "5.6.7.8", 80, "DROP", false},
           {"node to LB1 (allowed by LoadBalancerSourceRanges)", kNodeIP, P::kTCP, "1.2.3.4", 80, "10.180.0.1:80", true},
           {"node to LB2 (allowed by LoadBalancerSourceRanges)", kNodeIP, P::kTCP, "5.6.7.8", 80, "10.180.0.1:80", true},
           {"same node to LB1, SNATted to LB1 (implicitly allowed)", "1.2.3.4", P::kTCP, "1.2.3.4", 80, "10.180.0.1:80", true},
           {"same node to LB2, SNATted to LB2 (implicitly allowed)", "5.6.7.8", P::kTCP, "5.6.7.8", 80, "10.180.0.1:80", true},
       }},
      // TestNodePorts' case "ipv4, localhost-nodeports enabled" (nodePortAddresses unset).
      {"TestNodePorts (ipv4, localhost-nodeports enabled)", R"(
kind: Service
metadata: {name: svc1, namespace: ns1}
spec: {type: NodePort, clusterIP: 172.30.0.41, ports: [{name: p80, port: 80, protocol: TCP, nodePort: 3001}]}
---
kind: EndpointSlice
metadata: {name: svc1-1, namespace: ns1, labels: {kubernetes.io/service-name: svc1}}
addressType: IPv4
endpoints: [{addresses: [10.180.0.1]}, {addresses: [10.180.2.1], nodeName: test-node}]
ports: [{name: p80, port: 80, protocol: TCP}]
)",
       {
           {"pod to cluster IP", "10.0.0.2", P::kTCP, "172.30.0.41", 80, "10.180.0.1:80, 10.180.2.1:80", false},
           {"external to nodePort", kExternalClient, P::kTCP, kNodeIP, 3001, "10.180.0.1:80, 10.180.2.1:80", true},
           {"node to nodePort", kNodeIP, P::kTCP, kNodeIP, 3001, "10.180.0.1:80, 10.180.2.1:80", true},
           {"localhost to nodePort gets masqueraded", "127.0.0.1", P::kTCP, "127.0.0.1", 3001, "10.180.0.1:80, 10.180.2.1:80", true},
           {"external to nodePort on secondary IP", kExternalClient, P::kTCP, kNodeIPAlt, 3001, "10.180.0.1:80, 10.180.2.1:80", true},
       },
       // nftables: no localhost NodePorts, and NodePorts on the primary IP only (upstream's
       // nftables TestNodePorts with its fake proxier's nodePortAddresses).
       {{"localhost to nodePort gets masqueraded", kNotInNftables}, {"external to nodePort on secondary IP", ""}}},
      {"TestExternalTrafficPolicyLocal", R"(
kind: Service
metadata: {name: svc1, namespace: ns1}
spec:
  type: LoadBalancer
  externalTrafficPolicy: Local
  clusterIP: 172.30.0.41
  externalIPs: [192.168.99.11]
  ports: [{name: p80, port: 80, protocol: TCP, nodePort: 3001, targetPort: 80}]
  healthCheckNodePort: 30000
status: {loadBalancer: {ingress: [{ip: 1.2.3.4}]}}
---
kind: EndpointSlice
metadata: {name: svc1-1, namespace: ns1, labels: {kubernetes.io/service-name: svc1}}
addressType: IPv4
endpoints: [{addresses: [10.180.0.1]}, {addresses: [10.180.2.1], nodeName: test-node}]
ports: [{name: p80, port: 80, protocol: TCP}]
)",
       {
           {"pod to cluster IP hits both endpoints, unmasqueraded", "10.0.0.2", P::kTCP, "172.30.0.41", 80, "10.180.0.1:80, 10.180.2.1:80", false},
           {"pod to external IP hits both endpoints, unmasqueraded", "10.0.0.2", P::kTCP, "192.168.99.11", 80, "10.180.0.1:80, 10.180.2.1:80", false},
           {"external to external IP hits only local endpoint, unmasqueraded", kExternalClient, P::kTCP, "192.168.99.11", 80, "10.180.2.1:80", false},
           {"pod to LB IP hits only both endpoints, unmasqueraded", "10.0.0.2", P::kTCP, "1.2.3.4", 80, "10.180.0.1:80, 10.180.2.1:80", false},
           {"external to LB IP hits only local endpoint, unmasqueraded", kExternalClient, P::kTCP, "1.2.3.4", 80, "10.180.2.1:80", false},
           {"pod to NodePort hits both endpoints, unmasqueraded", "10.0.0.2", P::kTCP, kNodeIP, 3001, "10.180.0.1:80, 10.180.2.1:80", false},
           {"external to NodePort hits only local endpoint, unmasqueraded", kExternalClient, P::kTCP, kNodeIP, 3001, "10.180.2.1:80", false},
       }},
      {"TestExternalTrafficPolicyCluster", R"(
kind: Service
metadata: {name: svc1, namespace: ns1}
spec:
  type: LoadBalancer
  externalTrafficPolicy: Cluster
  clusterIP: 172.30.0.41
  externalIPs: [192.168.99.11]
  ports: [{name: p80, port: 80, protocol: TCP, nodePort: 3001, targetPort: 80}]
status: {loadBalancer: {ingress: [{ip: 1.2.3.4}]}}
---
kind: EndpointSlice
metadata: {name: svc1-1, namespace: ns1, labels: {kubernetes.io/service-name: svc1}}
addressType: IPv4
endpoints: [{addresses: [10.180.0.1]}, {addresses: [10.180.2.1], nodeName: test-node}]
ports: [{name: p80, port: 80, protocol: TCP}]
)",
       {
           {"pod to cluster IP hits both endpoints, unmasqueraded", "10.0.0.2", P::kTCP, "172.30.0.41", 80, "10.180.0.1:80, 10.180.2.1:80", false},
           {"pod to external IP hits both endpoints, masqueraded", "10.0.0.2", P::kTCP, "192.168.99.11", 80, "10.180.0.1:80, 10.180.2.1:80", true},
           {"external to external IP hits both endpoints, masqueraded", kExternalClient, P::kTCP, "192.168.99.11", 80, "10.180.0.1:80, 10.180.2.1:80", true},
           {"pod to LB IP hits both endpoints, masqueraded", "10.0.0.2", P::kTCP, "1.2.3.4", 80, "10.180.0.1:80, 10.180.2.1:80", true},
           {"external to LB IP hits both endpoints, masqueraded", kExternalClient, P::kTCP, "1.2.3.4", 80, "10.180.0.1:80, 10.180.2.1:80", true},
           {"pod to NodePort hits both endpoints, masqueraded", "10.0.0.2", P::kTCP, kNodeIP, 3001, "10.180.0.1:80, 10.180.2.1:80", true},
           {"external to NodePort hits both endpoints, masqueraded", kExternalClient, P::kTCP, kNodeIP, 3001, "10.180.0.1:80, 10.180.2.1:80", true},
       }},
  };
}

// TestInternalExternalMasquerade: three LoadBalancers (Cluster; eTP Local; iTP Local), 27 flows,
// in four variants (base, no LocalTrafficDetector, masqueradeAll, both) with upstream's overrides.
inline std::vector<FlowTest> internalExternalMasqueradeTests() {
  const std::string manifests = R"(
kind: Service
metadata: {name: svc1, namespace: ns1}
spec:
  type: LoadBalancer
  clusterIP: 172.30.0.41
  ports: [{name: p80, port: 80, protocol: TCP, nodePort: 3001}]
  healthCheckNodePort: 30001
status: {loadBalancer: {ingress: [{ip: 1.2.3.4}]}}
---
kind: Service
metadata: {name: svc2, namespace: ns2}
spec:
  type: LoadBalancer
  clusterIP: 172.30.0.42
  externalTrafficPolicy: Local
  ports: [{name: p80, port: 80, protocol: TCP, nodePort: 3002}]
  healthCheckNodePort: 30002
status: {loadBalancer: {ingress: [{ip: 5.6.7.8}]}}
---
kind: Service
metadata: {name: svc3, namespace: ns3}
spec:
  type: LoadBalancer
  clusterIP: 172.30.0.43
  internalTrafficPolicy: Local
  ports: [{name: p80, port: 80, protocol: TCP, nodePort: 3003}]
  healthCheckNodePort: 30003
status: {loadBalancer: {ingress: [{ip: 9.10.11.12}]}}
---
kind: EndpointSlice
metadata: {name: svc1-1, namespace: ns1, labels: {kubernetes.io/service-name: svc1}}
addressType: IPv4
endpoints: [{addresses: [10.180.0.1], nodeName: test-node}, {addresses: [10.180.1.1], nodeName: remote}]
ports: [{name: p80, port: 80, protocol: TCP}]
---
kind: EndpointSlice
metadata: {name: svc2-1, namespace: ns2, labels: {kubernetes.io/service-name: svc2}}
addressType: IPv4
endpoints: [{addresses: [10.180.0.2], nodeName: test-node}, {addresses: [10.180.1.2], nodeName: remote}]
ports: [{name: p80, port: 80, protocol: TCP}]
---
kind: EndpointSlice
metadata: {name: svc3-1, namespace: ns3, labels: {kubernetes.io/service-name: svc3}}
addressType: IPv4
endpoints: [{addresses: [10.180.0.3], nodeName: test-node}, {addresses: [10.180.1.3], nodeName: remote}]
ports: [{name: p80, port: 80, protocol: TCP}]
)";
  const std::string both1 = "10.180.0.1:80, 10.180.1.1:80", both2 = "10.180.0.2:80, 10.180.1.2:80",
                    both3 = "10.180.0.3:80, 10.180.1.3:80";
  const std::vector<Flow> base = {
      {"pod to ClusterIP", "10.0.0.2", P::kTCP, "172.30.0.41", 80, both1, false},
      {"pod to NodePort", "10.0.0.2", P::kTCP, kNodeIP, 3001, both1, true},
      {"pod to LB", "10.0.0.2", P::kTCP, "1.2.3.4", 80, both1, true},
      {"node to ClusterIP", kNodeIP, P::kTCP, "172.30.0.41", 80, both1, true},
      {"node to NodePort", kNodeIP, P::kTCP, kNodeIP, 3001, both1, true},
      {"node to LB", kNodeIP, P::kTCP, "1.2.3.4", 80, both1, true},
      {"external to ClusterIP", kExternalClient, P::kTCP, "172.30.0.41", 80, both1, true},
      {"external to NodePort", kExternalClient, P::kTCP, kNodeIP, 3001, both1, true},
      {"external to LB", kExternalClient, P::kTCP, "1.2.3.4", 80, both1, true},
      {"pod to ClusterIP with eTP:Local", "10.0.0.2", P::kTCP, "172.30.0.42", 80, both2, false},
      {"pod to NodePort with eTP:Local", "10.0.0.2", P::kTCP, kNodeIP, 3002, both2, false},
      {"pod to LB with eTP:Local", "10.0.0.2", P::kTCP, "5.6.7.8", 80, both2, false},
      {"node to ClusterIP with eTP:Local", kNodeIP, P::kTCP, "172.30.0.42", 80, both2, true},
      // (upstream's case sends to svc1's NodePort, 3001)
      {"node to NodePort with eTP:Local", kNodeIP, P::kTCP, kNodeIP, 3001, both1, true},
      {"node to LB with eTP:Local", kNodeIP, P::kTCP, "5.6.7.8", 80, both2, true},
      {"external to ClusterIP with eTP:Local", kExternalClient, P::kTCP, "172.30.0.42", 80, both2, true},
      {"external to NodePort with eTP:Local", kExternalClient, P::kTCP, kNodeIP, 3002, "10.180.0.2:80", false},
      {"external to LB with eTP:Local", kExternalClient, P::kTCP, "5.6.7.8", 80, "10.180.0.2:80", false},
      {"pod to ClusterIP with iTP:Local", "10.0.0.2", P::kTCP, "172.30.0.43", 80, "10.180.0.3:80", false},
      {"pod to NodePort with iTP:Local", "10.0.0.2", P::kTCP, kNodeIP, 3003, both3, true},
      {"pod to LB with iTP:Local", "10.0.0.2", P::kTCP, "9.10.11.12", 80, both3, true},
      {"node to ClusterIP with iTP:Local", kNodeIP, P::kTCP, "172.30.0.43", 80, "10.180.0.3:80", true},
      {"node to NodePort with iTP:Local", kNodeIP, P::kTCP, kNodeIP, 3003, both3, true},
      {"node to LB with iTP:Local", kNodeIP, P::kTCP, "9.10.11.12", 80, both3, true},
      {"external to ClusterIP with iTP:Local", kExternalClient, P::kTCP, "172.30.0.43", 80, "10.180.0.3:80", true},
      {"external to NodePort with iTP:Local", kExternalClient, P::kTCP, kNodeIP, 3003, both3, true},
      {"external to LB with iTP:Local", kExternalClient, P::kTCP, "9.10.11.12", 80, both3, true},
  };
  struct Variant {
    const char* name;
    bool masqueradeAll, localDetector;
    std::vector<std::pair<std::string, bool>> masq;           // name -> masq
    std::vector<std::pair<std::string, std::string>> output;  // name -> output
  };
  const std::vector<std::pair<std::string, bool>> noDetectorMasq = {
      {"node to ClusterIP", false}, {"node to ClusterIP with eTP:Local", false}, {"node to ClusterIP with iTP:Local", false},
      {"external to ClusterIP", false}, {"external to ClusterIP with eTP:Local", false}, {"external to ClusterIP with iTP:Local", false}};
  const std::vector<std::pair<std::string, bool>> allMasq = {
      {"pod to ClusterIP", true}, {"pod to ClusterIP with eTP:Local", true}, {"pod to ClusterIP with iTP:Local", true}};
  const std::vector<std::pair<std::string, std::string>> noShortCircuit = {
      {"pod to NodePort with eTP:Local", "10.180.0.2:80"}, {"pod to LB with eTP:Local", "10.180.0.2:80"}};
  const std::vector<Variant> variants = {
      {"base", false, true, {}, {}},
      {"no LocalTrafficDetector", false, false, noDetectorMasq, noShortCircuit},
      {"masqueradeAll", true, true, allMasq, {}},
      {"masqueradeAll, no LocalTrafficDetector", true, false, allMasq, noShortCircuit},
  };
  std::vector<FlowTest> out;
  for (const auto& v : variants) {
    std::vector<Flow> flows = base;
    for (auto& f : flows) {
      for (const auto& [n, m] : v.masq)
        if (n == f.name) f.masq = m;
      for (const auto& [n, o] : v.output)
        if (n == f.name) f.output = o;
    }
    FlowTest t{"TestInternalExternalMasquerade", manifests, flows};
    t.variant = v.name;
    t.masqueradeAll = v.masqueradeAll;
    t.localDetector = v.localDetector;
    out.push_back(std::move(t));
  }
  return out;
}

// TestInternalTrafficPolicy: a ClusterIP with three endpoints on this node or others; then its
// EndpointSlice deleted (REJECT).
inline std::vector<FlowTest> internalTrafficPolicyTests() {
  auto manifests = [](const char* policy, std::vector<std::pair<const char*, const char*>> eps) {
    std::string m = std::string("kind: Service\nmetadata: {name: svc1, namespace: ns1}\nspec:\n  clusterIP: 172.30.1.1\n  internalTrafficPolicy: ") +
                    policy + "\n  selector: {foo: bar}\n  ports: [{port: 80, protocol: TCP}]\n";
    if (eps.empty()) return m;
    m += "---\nkind: EndpointSlice\nmetadata: {name: svc1-1, namespace: ns1, labels: {kubernetes.io/service-name: svc1}}\naddressType: IPv4\n"
         "ports: [{name: \"\", port: 80, protocol: TCP}]\nendpoints:\n";
    for (const auto& [ip, node] : eps)
      m += std::string("- {addresses: [") + ip + "], conditions: {ready: true}, nodeName: " + node + "}\n";
    return m;
  };
  struct Case {
    const char* name;
    const char* policy;
    std::vector<std::pair<const char*, const char*>> eps;
    Flow flow;
  };
  const std::vector<Case> cases = {
      {"internalTrafficPolicy is cluster", "Cluster", {{"10.0.1.1", kNodeName}, {"10.0.1.2", "node1"}, {"10.0.1.3", "node2"}},
       {"pod to ClusterIP hits all endpoints", "10.0.0.2", P::kTCP, "172.30.1.1", 80, "10.0.1.1:80, 10.0.1.2:80, 10.0.1.3:80", false}},
      {"internalTrafficPolicy is local and there is one local endpoint", "Local",
       {{"10.0.1.1", kNodeName}, {"10.0.1.2", "node1"}, {"10.0.1.3", "node2"}},
       {"pod to ClusterIP hits only local endpoint", "10.0.0.2", P::kTCP, "172.30.1.1", 80, "10.0.1.1:80", false}},
      {"internalTrafficPolicy is local and there are multiple local endpoints", "Local",
       {{"10.0.1.1", kNodeName}, {"10.0.1.2", kNodeName}, {"10.0.1.3", "node2"}},
       {"pod to ClusterIP hits all local endpoints", "10.0.0.2", P::kTCP, "172.30.1.1", 80, "10.0.1.1:80, 10.0.1.2:80", false}},
      {"internalTrafficPolicy is local and there are no local endpoints", "Local",
       {{"10.0.1.1", "node0"}, {"10.0.1.2", "node1"}, {"10.0.1.3", "node2"}},
       {"no endpoints", "10.0.0.2", P::kTCP, "172.30.1.1", 80, "DROP", false}},
  };
  std::vector<FlowTest> out;
  for (const auto& c : cases) {
    FlowTest with{"TestInternalTrafficPolicy", manifests(c.policy, c.eps), {c.flow}};
    with.variant = c.name;
    out.push_back(with);
    FlowTest deleted{"TestInternalTrafficPolicy", manifests(c.policy, {}),
                     {{"endpoints deleted", "10.0.0.2", P::kTCP, "172.30.1.1", 80, "REJECT", false}}};
    deleted.variant = std::string(c.name) + ", slice deleted";
    out.push_back(deleted);
  }
  return out;
}

// TestTerminatingEndpointsTrafficPolicyLocal and ...Cluster: a LoadBalancer (1.2.3.4, no NodePort)
// whose endpoints are ready, serving-terminating, or neither, here or elsewhere; then deleted.
inline std::vector<FlowTest> terminatingEndpointsTests() {
  struct Ep {
    const char* ip;
    bool ready, serving, terminating;
    const char* node;
  };
  auto manifests = [](const char* policy, const std::vector<Ep>& eps, bool withSlice) {
    std::string m = std::string("kind: Service\nmetadata: {name: svc1, namespace: ns1}\nspec:\n  type: LoadBalancer\n  clusterIP: 172.30.1.1\n") +
                    "  allocateLoadBalancerNodePorts: false\n  externalTrafficPolicy: " + policy +
                    "\n  healthCheckNodePort: 30000\n  ports: [{port: 80, targetPort: 80, protocol: TCP}]\nstatus: {loadBalancer: {ingress: [{ip: 1.2.3.4}]}}\n";
    if (!withSlice) return m;
    m += "---\nkind: EndpointSlice\nmetadata: {name: svc1-1, namespace: ns1, labels: {kubernetes.io/service-name: svc1}}\naddressType: IPv4\n"
         "ports: [{name: \"\", port: 80, protocol: TCP}]\nendpoints:\n";
    auto b = [](bool v) { return v ? "true" : "false"; };
    for (const auto& e : eps)
      m += std::string("- {addresses: [") + e.ip + "], conditions: {ready: " + b(e.ready) + ", serving: " + b(e.serving) +
           ", terminating: " + b(e.terminating) + "}, nodeName: " + e.node + "}\n";
    return m;
  };
  struct Case {
    const char* test;
    const char* policy;
    const char* name;
    std::vector<Ep> eps;
    std::string podOut, extOut;
    bool podMasq, extMasq;
  };
  const char* here = kNodeName;
  const std::vector<Case> cases = {
      {"TestTerminatingEndpointsTrafficPolicyLocal", "Local", "ready endpoints exist",
       {{"10.0.1.1", true, true, false, here}, {"10.0.1.2", true, true, false, here}, {"10.0.1.3", false, true, true, here},
        {"10.0.1.4", false, false, true, here}, {"10.0.1.5", true, true, false, "node-1"}},
       "10.0.1.1:80, 10.0.1.2:80, 10.0.1.5:80", "10.0.1.1:80, 10.0.1.2:80", false, false},
      {"TestTerminatingEndpointsTrafficPolicyLocal", "Local", "only terminating endpoints exist",
       {{"10.0.1.2", false, true, true, here}, {"10.0.1.3", false, true, true, here}, {"10.0.1.4", false, false, true, here},
        {"10.0.1.5", true, true, false, "node-1"}},
       "10.0.1.5:80", "10.0.1.2:80, 10.0.1.3:80", false, false},
      {"TestTerminatingEndpointsTrafficPolicyLocal", "Local", "terminating endpoints on remote node",
       {{"10.0.1.5", false, true, true, "node-1"}}, "10.0.1.5:80", "DROP", false, false},
      {"TestTerminatingEndpointsTrafficPolicyLocal", "Local", "no usable endpoints on any node",
       {{"10.0.1.5", false, false, true, here}, {"10.0.1.5", false, false, true, "node-1"}}, "REJECT", "REJECT", false, false},
      {"TestTerminatingEndpointsTrafficPolicyCluster", "Cluster", "ready endpoints exist",
       {{"10.0.1.1", true, true, false, here}, {"10.0.1.2", true, true, false, here}, {"10.0.1.3", false, true, true, "another-node"},
        {"10.0.1.4", false, false, true, "another-node"}, {"10.0.1.5", true, true, false, "another-node"}},
       "10.0.1.1:80, 10.0.1.2:80, 10.0.1.5:80", "10.0.1.1:80, 10.0.1.2:80, 10.0.1.5:80", false, true},
      {"TestTerminatingEndpointsTrafficPolicyCluster", "Cluster", "only terminating endpoints exist",
       {{"10.0.1.2", false, true, true, here}, {"10.0.1.3", false, true, true, here}, {"10.0.1.4", false, false, true, "another-node"},
        {"10.0.1.5", false, true, true, "another-node"}},
       "10.0.1.2:80, 10.0.1.3:80, 10.0.1.5:80", "10.0.1.2:80, 10.0.1.3:80, 10.0.1.5:80", false, true},
      {"TestTerminatingEndpointsTrafficPolicyCluster", "Cluster", "terminating endpoints on remote node",
       {{"10.0.1.5", false, true, true, "node-1"}}, "10.0.1.5:80", "10.0.1.5:80", false, true},
      {"TestTerminatingEndpointsTrafficPolicyCluster", "Cluster", "no usable endpoints on any node",
       {{"10.0.1.5", false, false, true, here}, {"10.0.1.5", false, false, true, "node-1"}}, "REJECT", "REJECT", false, false},
  };
  std::vector<FlowTest> out;
  for (const auto& c : cases) {
    FlowTest with{c.test, manifests(c.policy, c.eps, true),
                  {{"pod to clusterIP", "10.0.0.2", P::kTCP, "172.30.1.1", 80, c.podOut, c.podMasq},
                   {"external to LB", kExternalClient, P::kTCP, "1.2.3.4", 80, c.extOut, c.extMasq}}};
    with.variant = c.name;
    out.push_back(with);
    FlowTest deleted{c.test, manifests(c.policy, {}, false),
                     {{"pod to clusterIP after endpoints deleted", "10.0.0.2", P::kTCP, "172.30.1.1", 80, "REJECT", false},
                      {"external to LB after endpoints deleted", kExternalClient, P::kTCP, "1.2.3.4", 80, "REJECT", false}}};
    deleted.variant = std::string(c.name) + ", slice deleted";
    out.push_back(deleted);
  }
  return out;
}

// Every table above.
inline std::vector<FlowTest> allFlowTests() {
  std::vector<FlowTest> all = flowTests();
  for (auto&& more : {internalExternalMasqueradeTests(), internalTrafficPolicyTests(), terminatingEndpointsTests()})
    all.insert(all.end(), more.begin(), more.end());
  return all;
}

}  // namespace kproxy::testing::upstream
