/* The maps' layout, shared by the BPF programs (C) and kproxy (C++): one definition, so the
 * two sides cannot disagree on a key. Addresses and ports in network byte order. */
#ifndef KPROXY_EBPF_LB_MAPS_H
#define KPROXY_EBPF_LB_MAPS_H

#include <linux/types.h>

#define KPROXY_MAX_SERVICES 262144    /* Service addresses: ClusterIPs, external and LB IPs */
#define KPROXY_MAX_BACKENDS 1048576   /* endpoint slots over every Service address */
/* The LRU maps are allocated whole (about 80 bytes an entry): 5 MB each. */
#define KPROXY_MAX_AFFINITY 65536     /* ClientIP affinity entries (LRU) */
#define KPROXY_MAX_REVERSE 65536      /* sockets' original destinations (LRU) */
#define KPROXY_MAX_GONE 16384         /* endpoint removals one socket walk handles */

/* kproxy_services: a Service address:port/protocol. */
struct kproxy_svc_key {
  __u32 addr;
  __u16 port;
  __u8 proto; /* IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP */
  __u8 pad;
};

struct kproxy_svc_value {
  __u32 count;         /* endpoint slots 0..count-1 in kproxy_backends; 0: refused */
  __u32 affinity_secs; /* ClientIP affinity timeout; 0: none */
};

/* kproxy_backends: slot N of a Service address. */
struct kproxy_be_key {
  struct kproxy_svc_key svc;
  __u32 slot;
};

struct kproxy_be_value {
  __u32 addr;
  __u16 port;
  __u16 pad;
};

/* kproxy_affinity: the endpoint a client (its network namespace) last reached a Service at. */
struct kproxy_aff_key {
  __u64 client; /* the client's network namespace cookie */
  struct kproxy_svc_key svc;
};

struct kproxy_aff_value {
  struct kproxy_be_value be;
  __u64 last_ns; /* bpf_ktime_get_ns() of the last connection */
};

/* kproxy_reverse: which Service address a socket connected (or sent) to an endpoint for, so that
 * getpeername() and recvmsg() show the Service address. */
struct kproxy_rev_key {
  __u64 cookie; /* the socket's cookie */
  __u32 addr;   /* the endpoint */
  __u16 port;
  __u16 pad;
};

struct kproxy_rev_value {
  __u32 addr;
  __u16 port;
  __u16 pad;
};

/* kproxy_gone (the socket terminator's): a Service address and one of its endpoints that went away. */
struct kproxy_gone_key {
  struct kproxy_rev_value svc;
  struct kproxy_be_value be;
};

#endif
