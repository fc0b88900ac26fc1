#!/usr/bin/env bash
# The guest itself: IPVS, the dummy device, ipset and iptables work in a network namespace.
set -u
ns=kproxy-vm-smoke
ip netns add $ns
fail=0
check() { if out=$("$@" 2>&1); then echo "ok   [vm] $*"; else echo "FAIL [vm] $*: $out"; fail=1; fi; }
check ip -n $ns link add kube-ipvs0 type dummy
# IPVS accepts only a destination it has a unicast route to.
check ip -n $ns addr add 10.244.1.1/24 dev kube-ipvs0
check ip -n $ns link set kube-ipvs0 up
check ip netns exec $ns ipvsadm -A -t 10.96.0.1:80 -s rr
check ip netns exec $ns ipvsadm -a -t 10.96.0.1:80 -r 10.244.1.2:8080 -m
check ip netns exec $ns ipset create KUBE-CLUSTER-IP hash:ip,port
check ip netns exec $ns iptables-nft -t nat -A POSTROUTING -m set --match-set KUBE-CLUSTER-IP dst,dst -j MASQUERADE
check ip netns exec $ns iptables-legacy -t nat -A POSTROUTING -j MASQUERADE
ip netns exec $ns ipvsadm -Ln
ip netns del $ns
exit $fail
