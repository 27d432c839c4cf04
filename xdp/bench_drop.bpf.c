// SPDX-License-Identifier: MIT OR GPL-2.0
//
// The kernel's ceiling for the XDP path on an interface: drop every frame without touching
// it (what `xdp-bench drop` does in its default no-touch mode). Used by the xskbench
// example as the baseline; the rate is read from the driver's XDP drop counters.

#include <linux/bpf.h>

#define SEC(name) __attribute__((section(name), used))

SEC("xdp")
int bench_drop(struct xdp_md *ctx)
{
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
