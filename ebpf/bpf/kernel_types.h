/* The few kernel types the socket iterator reads, declared for CO-RE: libbpf relocates every
 * field access to the running kernel's layout (from its BTF), so only the names must match.
 * Kept by hand instead of a generated vmlinux.h of the build host. */
#ifndef KPROXY_EBPF_KERNEL_TYPES_H
#define KPROXY_EBPF_KERNEL_TYPES_H

#include <linux/types.h>

#define KPROXY_CORE __attribute__((preserve_access_index))

struct sock_common {
  __be32 skc_daddr;
  __be16 skc_dport;
  unsigned short skc_family;
} KPROXY_CORE;

struct sock {
  struct sock_common __sk_common;
} KPROXY_CORE;

struct udp_sock;

struct bpf_iter_meta;

struct bpf_iter__udp {
  struct bpf_iter_meta *meta;
  struct udp_sock *udp_sk;
} KPROXY_CORE;

#endif
