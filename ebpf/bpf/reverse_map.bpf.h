/* kproxy_reverse, the one map both BPF objects use: defined once, so the pinned map the socket
 * programs create is the one the socket iterator reuses (libbpf reuses a pin only when the
 * definitions agree). */
#ifndef KPROXY_EBPF_REVERSE_MAP_BPF_H
#define KPROXY_EBPF_REVERSE_MAP_BPF_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "lb_maps.h"

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, KPROXY_MAX_REVERSE);
  __type(key, struct kproxy_rev_key);
  __type(value, struct kproxy_rev_value);
  __uint(pinning, LIBBPF_PIN_BY_NAME);
} kproxy_reverse SEC(".maps");

#endif
