// SPDX-License-Identifier: MIT OR GPL-2.0
//
// boomerang's XDP steering program.
//
// Redirects to the AF_XDP socket of the receiving queue (XSKMAP[rx_queue_index]) only the
// frames that belong to boomerang:
//   - ARP (IPv4 over Ethernet) whose target protocol address is in `boomerang_addrs`;
//   - IPv4 whose destination address is in `boomerang_addrs` (every protocol, fragments too).
// Everything else gets XDP_PASS, so the host keeps working on the same NIC. A frame that is
// ours but arrives on a queue without a socket is dropped (and counted): the kernel does not
// own our addresses and would only answer it with resets.
//
// With bit 0 (REDIRECT_ALL) set in `boomerang_config[0]` every frame goes to the queue's
// socket instead (passed to the kernel if the queue has none): the mode of an L2 forwarder.
//
// Per-CPU counters in `boomerang_counters`: 0 redirected, 1 passed, 2 dropped.
//
// Self-contained on purpose (no libbpf headers needed): the few helper declarations and map
// macros below are the ones libbpf's bpf_helpers.h defines.

#include <linux/types.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>

#define SEC(name) __attribute__((section(name), used))
#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name

static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)1;
static long (*bpf_redirect_map)(void *map, __u64 key, __u64 flags) = (void *)51;

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define be16(x) __builtin_bswap16(x)
#else
#define be16(x) (x)
#endif

// Sizes must match crates/nic/src/xsk/program.rs (the loader resizes the XSKMAP).
#define MAX_QUEUES 64
#define MAX_ADDRS 64

enum counter { REDIRECTED = 0, PASSED = 1, DROPPED = 2, COUNTERS = 3 };

#define REDIRECT_ALL 1

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, MAX_QUEUES);
	__type(key, __u32);
	__type(value, __u32);
} boomerang_xsks SEC(".maps");

// Key: an IPv4 address in network byte order. Value: unused (1).
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_ADDRS);
	__type(key, __u32);
	__type(value, __u32);
} boomerang_addrs SEC(".maps");

// Entry 0: flags set by the loader (REDIRECT_ALL).
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} boomerang_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, COUNTERS);
	__type(key, __u32);
	__type(value, __u64);
} boomerang_counters SEC(".maps");

// ARP for IPv4 over Ethernet (RFC 826), the only form we claim.
struct arp_ipv4 {
	__be16 htype;
	__be16 ptype;
	__u8 hlen;
	__u8 plen;
	__be16 oper;
	__u8 sha[6];
	__u8 spa[4];
	__u8 tha[6];
	__u8 tpa[4];
} __attribute__((packed));

static __always_inline int count(__u32 which, int action)
{
	__u64 *c = bpf_map_lookup_elem(&boomerang_counters, &which);
	if (c)
		*c += 1;
	return action;
}

SEC("xdp")
int boomerang_steer(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u32 zero = 0;
	__u32 *flags = bpf_map_lookup_elem(&boomerang_config, &zero);
	__u32 dst;

	if (flags && (*flags & REDIRECT_ALL)) {
		if (bpf_redirect_map(&boomerang_xsks, ctx->rx_queue_index, XDP_PASS) == XDP_REDIRECT)
			return count(REDIRECTED, XDP_REDIRECT);
		return count(PASSED, XDP_PASS);
	}

	if ((void *)(eth + 1) > data_end)
		return count(PASSED, XDP_PASS);

	if (eth->h_proto == be16(ETH_P_ARP)) {
		struct arp_ipv4 *arp = (void *)(eth + 1);
		if ((void *)(arp + 1) > data_end || arp->htype != be16(1) ||
		    arp->ptype != be16(ETH_P_IP) || arp->hlen != 6 || arp->plen != 4)
			return count(PASSED, XDP_PASS);
		__builtin_memcpy(&dst, arp->tpa, 4);
	} else if (eth->h_proto == be16(ETH_P_IP)) {
		// Only the destination address is read: the stack validates the rest.
		__u8 *ip = (void *)(eth + 1);
		if ((void *)(ip + 20) > data_end)
			return count(PASSED, XDP_PASS);
		__builtin_memcpy(&dst, ip + 16, 4);
	} else {
		return count(PASSED, XDP_PASS);
	}

	if (!bpf_map_lookup_elem(&boomerang_addrs, &dst))
		return count(PASSED, XDP_PASS);

	// Falls back to XDP_DROP when no socket is bound to this queue.
	if (bpf_redirect_map(&boomerang_xsks, ctx->rx_queue_index, XDP_DROP) == XDP_REDIRECT)
		return count(REDIRECTED, XDP_REDIRECT);
	return count(DROPPED, XDP_DROP);
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
