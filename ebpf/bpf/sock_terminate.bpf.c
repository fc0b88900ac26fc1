/* Terminates UDP sockets connected through a Service to an endpoint that went away (kernel 6.5+:
 * the UDP socket iterator and bpf_sock_destroy). A connected UDP socket keeps its endpoint for
 * its life; conntrack-based modes flush the flow, here the socket is aborted (ECONNABORTED on its
 * next call) so the application's next socket picks again. Only sockets the socket programs
 * translated to that endpoint (their entry in kproxy_reverse) are touched. The iterator walks
 * the sockets of the network namespace it is created in. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "kernel_types.h"
#include "lb_maps.h"
#include "reverse_map.bpf.h"

#define AF_INET 2

char LICENSE[] SEC("license") = "GPL";

extern int bpf_sock_destroy(struct sock_common *sk) __ksym;

/* Service address and endpoint pairs that went away (filled before each walk, emptied after). */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, KPROXY_MAX_GONE);
  __type(key, struct kproxy_gone_key);
  __type(value, __u8);
} kproxy_gone SEC(".maps");

__u64 terminated = 0; /* sockets aborted, read by kproxy */


SEC("iter/udp")
int kproxy_terminate_udp(struct bpf_iter__udp *ctx) {
  struct sock *sk = (struct sock *)ctx->udp_sk;
  if (!sk || sk->__sk_common.skc_family != AF_INET) return 0;
  __u32 daddr = sk->__sk_common.skc_daddr;
  __u16 dport = sk->__sk_common.skc_dport;
  struct kproxy_rev_key rk = {.cookie = bpf_get_socket_cookie(sk), .addr = daddr, .port = dport};
  struct kproxy_rev_value *svc = bpf_map_lookup_elem(&kproxy_reverse, &rk);
  if (!svc) return 0; /* not connected through a Service */
  struct kproxy_gone_key gk = {.svc = *svc, .be = {.addr = daddr, .port = dport}};
  if (!bpf_map_lookup_elem(&kproxy_gone, &gk)) return 0;
  if (bpf_sock_destroy(&sk->__sk_common) == 0) __sync_fetch_and_add(&terminated, 1);
  return 0;
}
