/* Socket-level load balancing (IPv4): a connect() or sendmsg() to a Service address is sent
 * straight to one of its endpoints, so no packet carries the Service address and neither NAT nor
 * conntrack sees it; getpeername() and recvmsg() show the Service address back. */
#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>

#include "lb_maps.h"
#include "reverse_map.bpf.h"

#define ECONNREFUSED 111

char LICENSE[] SEC("license") = "GPL";

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, KPROXY_MAX_SERVICES);
  __uint(map_flags, BPF_F_NO_PREALLOC); /* memory for the entries there are, not for the limit */
  __type(key, struct kproxy_svc_key);
  __type(value, struct kproxy_svc_value);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} kproxy_services SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, KPROXY_MAX_BACKENDS);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, struct kproxy_be_key);
  __type(value, struct kproxy_be_value);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} kproxy_backends SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, KPROXY_MAX_AFFINITY);
  __type(key, struct kproxy_aff_key);
  __type(value, struct kproxy_aff_value);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} kproxy_affinity SEC(".maps");


/* Picks the endpoint for a connection to `svc`; 0 and the endpoint in *out, or -ECONNREFUSED. */
static __always_inline int pick(void *ctx, const struct kproxy_svc_key *svc, const struct kproxy_svc_value *v,
                                struct kproxy_be_value *out) {
  if (v->count == 0) return -ECONNREFUSED;
  struct kproxy_aff_key ak = {};
  __u64 now = 0;
  if (v->affinity_secs) {
    ak.client = bpf_get_netns_cookie(ctx);
    ak.svc = *svc;
    now = bpf_ktime_get_ns();
    struct kproxy_aff_value *a = bpf_map_lookup_elem(&kproxy_affinity, &ak);
    /* kproxy deletes the entries of an endpoint that goes away. */
    if (a && now - a->last_ns < (__u64)v->affinity_secs * 1000000000ull) {
      *out = a->be;
      a->last_ns = now;
      return 0;
    }
  }
  struct kproxy_be_key bk = {.svc = *svc, .slot = bpf_get_prandom_u32() % v->count};
  struct kproxy_be_value *be = bpf_map_lookup_elem(&kproxy_backends, &bk);
  if (!be) return -ECONNREFUSED; /* a slot between two writes of a sync: refused, not mis-sent */
  *out = *be;
  if (v->affinity_secs) {
    struct kproxy_aff_value a = {.be = *be, .last_ns = now};
    bpf_map_update_elem(&kproxy_affinity, &ak, &a, BPF_ANY);
  }
  return 0;
}

/* Translates ctx's destination when it is a Service address. 1: allow the call, 0: refuse it. */
static __always_inline int translate(struct bpf_sock_addr *ctx) {
  struct kproxy_svc_key svc = {.addr = ctx->user_ip4, .port = (__u16)ctx->user_port, .proto = (__u8)ctx->protocol};
  struct kproxy_svc_value *v = bpf_map_lookup_elem(&kproxy_services, &svc);
  if (!v) return 1;
  struct kproxy_be_value be;
  int err = pick(ctx, &svc, v, &be);
  if (err) {
    bpf_set_retval(err);
    return 0;
  }
  struct kproxy_rev_key rk = {.cookie = bpf_get_socket_cookie(ctx), .addr = be.addr, .port = be.port};
  struct kproxy_rev_value rv = {.addr = svc.addr, .port = svc.port};
  bpf_map_update_elem(&kproxy_reverse, &rk, &rv, BPF_ANY);
  ctx->user_ip4 = be.addr;
  ctx->user_port = be.port;
  return 1;
}

/* Shows the Service address in place of the endpoint the socket was sent to. */
static __always_inline int reverse(struct bpf_sock_addr *ctx) {
  struct kproxy_rev_key rk = {.cookie = bpf_get_socket_cookie(ctx), .addr = ctx->user_ip4, .port = (__u16)ctx->user_port};
  struct kproxy_rev_value *rv = bpf_map_lookup_elem(&kproxy_reverse, &rk);
  if (rv) {
    ctx->user_ip4 = rv->addr;
    ctx->user_port = rv->port;
  }
  return 1;
}

SEC("cgroup/connect4")
int kproxy_connect4(struct bpf_sock_addr *ctx) { return translate(ctx); }

SEC("cgroup/sendmsg4")
int kproxy_sendmsg4(struct bpf_sock_addr *ctx) { return translate(ctx); }

SEC("cgroup/recvmsg4")
int kproxy_recvmsg4(struct bpf_sock_addr *ctx) { return reverse(ctx); }

SEC("cgroup/getpeername4")
int kproxy_getpeername4(struct bpf_sock_addr *ctx) { return reverse(ctx); }
