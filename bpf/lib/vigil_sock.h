/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vigil_sock.h - describe the socket behind a struct file in a
 * struct vigil_ev_net: family, type, protocol, state, local and peer
 * address and port, read from struct sock the way /proc/net/tcp shows them.
 * Shared by net.bpf.c (connect, accept, ...) and process.bpf.c (the sockets
 * on a new program's fds 0/1/2: reverse shells).
 */
#ifndef VIGIL_BPF_SOCK_H
#define VIGIL_BPF_SOCK_H

#include "events.h"

#define VIGIL_S_IFMT	00170000
#define VIGIL_S_IFSOCK	0140000
#define VIGIL_AF_INET	2
#define VIGIL_AF_INET6	10

/* The struct sock behind f when f is a socket, else NULL. */
static __always_inline struct sock *file_sock(struct file *f)
{
	struct socket *sock;

	if (!f)
		return NULL;
	if ((BPF_CORE_READ(f, f_inode, i_mode) & VIGIL_S_IFMT) != VIGIL_S_IFSOCK)
		return NULL;
	sock = BPF_CORE_READ(f, private_data);
	if (!sock)
		return NULL;
	return BPF_CORE_READ(sock, sk);
}

/* Fill the socket fields of ev from sk and set VIGIL_N_SOCK; 0, or -1 when sk is NULL. */
static __always_inline int sock_fill(struct sock *sk, struct vigil_ev_net *ev)
{
	__u16 fam;

	if (!sk)
		return -1;
	fam = BPF_CORE_READ(sk, __sk_common.skc_family);
	ev->family = fam;
	ev->type = BPF_CORE_READ(sk, sk_type);
	ev->protocol = BPF_CORE_READ(sk, sk_protocol);
	ev->state = BPF_CORE_READ(sk, __sk_common.skc_state);
	ev->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
	ev->dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (fam == VIGIL_AF_INET) {
		bpf_probe_read_kernel(ev->saddr, 4, &sk->__sk_common.skc_rcv_saddr);
		bpf_probe_read_kernel(ev->daddr, 4, &sk->__sk_common.skc_daddr);
	} else if (fam == VIGIL_AF_INET6) {
		bpf_probe_read_kernel(ev->saddr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
		bpf_probe_read_kernel(ev->daddr, 16, &sk->__sk_common.skc_v6_daddr);
	}
	ev->nflags |= VIGIL_N_SOCK;
	return 0;
}

/* Zero every field of ev after the header (verifier-friendly, no memset). */
static __always_inline void net_clear(struct vigil_ev_net *ev)
{
	__u64 *p = (__u64 *)&ev->start_ktime;

#pragma unroll
	for (int i = 0; i < (int)((sizeof(*ev) - sizeof(ev->hdr)) / 8); i++)
		p[i] = 0;
}

#endif /* VIGIL_BPF_SOCK_H */
