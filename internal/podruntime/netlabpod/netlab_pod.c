//go:build cgo

/*
 * netlab-pod: the processes that run inside a lab's containers and pods.
 *
 *   netlab netlab-pod --lab LAB --host HOST   < spec
 *
 * It is part of the netlab binary: a constructor runs before the Go runtime
 * starts (as runc's nsexec does) and, when netlab is called as above, runs
 * netlab-pod instead and exits, so the Go runtime never starts in it and
 * its clone(CLONE_VM) children are plain C processes.
 *
 * Each line of the spec on stdin is one workload:
 *
 *   NETNS_PATH NAME IP NODE KIND PORT
 *
 * KIND "web" is one process: a web server on PORT (a Docker-model container,
 * or the outside host). KIND "proxy" is Docker's userland proxy of a
 * published port: one process in the node's own namespace (NETNS_PATH "-")
 * listening on PORT and relaying each connection to IP:TARGET_PORT, the
 * seventh field, as docker-proxy does, on IPv4 (KIND "proxy6": on IPv6,
 * [::]; IP is of either family). KIND "reserve" is what dockerd does
 * for a published port without docker-proxy (userland-proxy false): one
 * process in the node's namespace, named dockerd, that listens on PORT
 * (IPv4; "reserve6": IPv6) and never accepts, so that nothing else can take the port; the
 * DNAT rules catch every packet for it. KIND "pod" is two processes sharing the pod's
 * network namespace, as the containers of a Kubernetes pod do: "app", a web
 * server on PORT, and "sidecar", which asks the app over localhost every few
 * seconds. KIND "image" is a container of a manifest's pod, image
 * netlab/web:TAG (the seventh field): a web server on PORT like "web",
 * whose answer also says "the color is TAG"; KIND "image-udp" is the same
 * container serving UDP on PORT: every datagram gets the same answer as
 * one datagram, as agnhost's serve-hostname --udp answers (the probes of
 * NetworkPolicy ask over both protocols). Every web server answers any
 * request with one line:
 *
 *   name=pod1 ip=10.244.1.2 node=node1 container=app client=10.244.2.2
 *
 * so whoever asks learns who answered and which source address arrived,
 * which is how the lab shows NAT, or its absence, with real packets. A
 * request whose target has "?fail" (GET /healthz?fail) is answered 503:
 * the switch a readinessProbe uses to keep a pod unready.
 *
 * Why C and fork: a lab may hold a thousand pods, two processes each, and
 * on a small VM every exec of a program costs milliseconds (and a fork of
 * the Go runtime most of one). netlab-pod is exec'd once per host, before
 * the Go runtime starts; each workload process is a fork of this small C
 * process, a process of its own with its own memory, pid and network
 * namespace (entered with setns(2)), so nothing of libc's state is shared.
 *
 * A workload process behaves as a server should: it serves many clients at
 * once (poll, a deadline per connection), a client that resets or vanishes
 * costs it nothing (no SIGPIPE: MSG_NOSIGNAL), it runs as the lab's own uid once its
 * socket listens (no capabilities, no_new_privs), and it dies with its
 * parent (PR_SET_PDEATHSIG), so no orphan serves after down. fd 3, if
 * open, gets "ready\n" once every server listens (or the reason one could
 * not); then netlab-pod stays as the parent that reaps its children, and
 * exits when they are gone.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdint.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAXLINE 1024
/* MAXCONN clients are served at once; more wait in the listen backlog. */
#define MAXCONN 32
/* A client has this long to send its request; then it is answered anyway. */
#define DEADLINE_MS 2000
/* Who workload processes run as once they listen: a uid and gid of the
 * lab's own, UID_BASE plus a 16-bit FNV-1a hash of the lab's name (the next
 * one free if /etc/passwd names it), never the system's nobody, so that no
 * other process on the machine (nobody's included) may signal them.
 * internal/names.WorkloadUID computes the same. */
#define UID_BASE 1850000000u
static uid_t workload_uid;

struct workload {
	char netns[512], name[64], ip[64], node[64], kind[16], tag[64];
	int port, tport;
};

static pid_t parent;

static void set_comm(const char *role, const char *name)
{
	char comm[16];
	snprintf(comm, sizeof comm, "%.7s:%.7s", role, name);
	prctl(PR_SET_NAME, comm, 0, 0, 0);
}

/* lab_uid is the lab's workload uid (see UID_BASE). */
static uid_t lab_uid(const char *lab)
{
	uint32_t h = 2166136261u;
	for (const unsigned char *c = (const unsigned char *)lab; *c; c++)
		h = (h ^ *c) * 16777619u;
	uid_t uid = UID_BASE + (h & 0xffff);
	while (getpwuid(uid) != NULL || getgrgid(uid) != NULL)
		uid++;
	return uid;
}

/* become_nobody drops root for good: no groups, the lab's own uid and gid,
 * no capabilities left (a change from uid 0 clears them), no way back
 * (no_new_privs). The parent-death signal is set after it, because a change
 * of credentials clears it. */
static void become_nobody(void)
{
	if (setgroups(0, NULL) < 0 || setresgid(workload_uid, workload_uid, workload_uid) < 0 ||
	    setresuid(workload_uid, workload_uid, workload_uid) < 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		_exit(1);
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != parent)
		_exit(1);
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* failing reports whether a request asks for a failure: its target has
 * "?fail" (GET /healthz?fail), the switch a readinessProbe uses to keep a
 * pod unready. */
static int failing(const char *head)
{
	const char *eol = strpbrk(head, "\r\n");
	const char *f = strstr(head, "?fail");
	return f && (!eol || f < eol);
}

static void answer(int c, const struct workload *w, const char *container, const char *head)
{
	if (failing(head)) {
		static const char no[] = "HTTP/1.0 503 Service Unavailable\r\nContent-Length: 12\r\nConnection: close\r\n\r\nnot ready.\r\n";
		(void)!send(c, no, sizeof no - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
		return;
	}
	char body[512], resp[1024], client[INET6_ADDRSTRLEN] = "?", self6[INET6_ADDRSTRLEN];
	const char *ip = w->ip;
	struct sockaddr_storage peer, me;
	socklen_t plen = sizeof peer, mlen = sizeof me;
	if (getpeername(c, (struct sockaddr *)&peer, &plen) == 0) {
		if (peer.ss_family == AF_INET6)
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&peer)->sin6_addr, client, sizeof client);
		else
			inet_ntop(AF_INET, &((struct sockaddr_in *)&peer)->sin_addr, client, sizeof client);
	}
	/* Asked over IPv6: ip= is the IPv6 address it was asked at. */
	if (getsockname(c, (struct sockaddr *)&me, &mlen) == 0 && me.ss_family == AF_INET6 &&
	    inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&me)->sin6_addr, self6, sizeof self6))
		ip = self6;
	int blen;
	if (container)
		blen = snprintf(body, sizeof body, "name=%s ip=%s node=%s container=%s client=%s\n",
				w->name, ip, w->node, container, client);
	else if (w->tag[0])
		blen = snprintf(body, sizeof body, "name=%s ip=%s node=%s client=%s\nthe color is %s\n",
				w->name, ip, w->node, client, w->tag);
	else
		blen = snprintf(body, sizeof body, "name=%s ip=%s node=%s client=%s\n",
				w->name, ip, w->node, client);
	int rlen = snprintf(resp, sizeof resp,
			    "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
			    "Connection: close\r\n\r\n%s", blen, body);
	/* A fresh socket's buffer takes the whole answer; a client gone by now
	 * (reset, closed) is an error here, never a signal. */
	(void)!send(c, resp, (size_t)rlen, MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* conn is one client being read: its socket, when it is answered anyway,
 * and the last bytes seen (to find the blank line that ends a request). */
struct conn {
	int fd;
	long long deadline;
	char tail[4];
	/* the request's first bytes: its method and target */
	char head[96];
	int hlen;
};

/* ends_request feeds bytes to c and reports whether the request's headers
 * have ended ("\r\n\r\n" or "\n\n"): the answer is the same for any request. */
static int ends_request(struct conn *c, const char *buf, ssize_t n)
{
	for (ssize_t i = 0; i < n && c->hlen < (int)sizeof c->head - 1; i++)
		c->head[c->hlen++] = buf[i];
	c->head[c->hlen] = 0;
	for (ssize_t i = 0; i < n; i++) {
		memmove(c->tail, c->tail + 1, 3);
		c->tail[3] = buf[i];
		if (memcmp(c->tail, "\r\n\r\n", 4) == 0 || memcmp(c->tail + 2, "\n\n", 2) == 0)
			return 1;
	}
	return 0;
}

/* listen_on listens on the workload's port on every address of one family
 * (IPv4, or IPv6 only), non-blocking: the socket, or -1 with errno set. */
static int listen_on(const struct workload *w, int v6)
{
	int one = 1;
	int s = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s < 0)
		return -1;
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in a4 = {.sin_family = AF_INET, .sin_port = htons((unsigned short)w->port)};
	struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_port = htons((unsigned short)w->port), .sin6_addr = IN6ADDR_ANY_INIT};
	if (v6)
		setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
	int r = v6 ? bind(s, (struct sockaddr *)&a6, sizeof a6) : bind(s, (struct sockaddr *)&a4, sizeof a4);
	if (r < 0 || listen(s, 128) < 0) {
		int e = errno;
		close(s);
		errno = e;
		return -1;
	}
	return s;
}

/* has_ipv6 says the namespace the process is in has IPv6 on (its lo has
 * ::1): /proc/sys/net is the reader's namespace's. */
static int has_ipv6(void)
{
	char c = '1';
	int fd = open("/proc/sys/net/ipv6/conf/lo/disable_ipv6", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		(void)!read(fd, &c, 1);
		close(fd);
	}
	return c == '0';
}

/* ready_or_die reports a listening socket s to ready (one byte), or why
 * there is none (a line), and dies. */
static void ready_or_die(const struct workload *w, int s, int ready)
{
	if (s < 0) {
		dprintf(ready, "%s: listen on port %d: %s\n", w->name, w->port, strerror(errno));
		_exit(1);
	}
	(void)!write(ready, "+", 1);
	close(ready);
}

/* listen_ready listens on the workload's port (every IPv4 address,
 * non-blocking), reports to ready (one byte, or a line saying why it could
 * not), becomes nobody, and returns the socket. */
static int listen_ready(const struct workload *w, int ready)
{
	int s = listen_on(w, 0);
	ready_or_die(w, s, ready);
	become_nobody();
	return s;
}

/* serve listens on the workload's port (IPv4, and IPv6 where the namespace
 * has it, as a server of a dual-stack host does), reports to ready (one
 * byte, or an error line), becomes nobody, and answers every client, many
 * at a time. */
static void serve(const struct workload *w, const char *container, int ready)
{
	int s6 = has_ipv6() ? listen_on(w, 1) : -1;
	int ls[2] = {listen_ready(w, ready), s6};
	int nls = s6 >= 0 ? 2 : 1;

	static struct conn conns[MAXCONN];
	static struct pollfd pfd[MAXCONN + 2];
	int n = 0;
	for (;;) {
		long long now = now_ms();
		int timeout = -1;
		for (int i = 0; i < n; i++) {
			pfd[i] = (struct pollfd){.fd = conns[i].fd, .events = POLLIN};
			long long left = conns[i].deadline - now;
			if (left < 0)
				left = 0;
			if (timeout < 0 || left < timeout)
				timeout = (int)left;
		}
		int np = n;
		if (n < MAXCONN)
			for (int l = 0; l < nls; l++)
				pfd[np++] = (struct pollfd){.fd = ls[l], .events = POLLIN};
		if (poll(pfd, (nfds_t)np, timeout) < 0 && errno != EINTR)
			_exit(1);
		now = now_ms();
		for (int i = 0; i < n; i++) {
			int done = 0; /* 1: answer, 2: the client is gone */
			if (pfd[i].revents) {
				char buf[512];
				ssize_t r = recv(conns[i].fd, buf, sizeof buf, MSG_DONTWAIT);
				if (r > 0)
					done = ends_request(&conns[i], buf, r);
				else if (r == 0)
					done = 1; /* the client sent all it will */
				else if (errno != EAGAIN && errno != EINTR)
					done = 2; /* reset, or gone */
			}
			if (!done && now >= conns[i].deadline)
				done = 1;
			if (done == 1)
				answer(conns[i].fd, w, container, conns[i].head);
			if (done) {
				close(conns[i].fd);
				conns[i].fd = -1;
			}
		}
		int kept = 0;
		for (int i = 0; i < n; i++)
			if (conns[i].fd >= 0)
				conns[kept++] = conns[i];
		n = kept;
		for (int l = 0; l < nls; l++)
			while (n < MAXCONN) {
				int c = accept4(ls[l], NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
				if (c < 0)
					break;
				conns[n++] = (struct conn){.fd = c, .deadline = now + DEADLINE_MS};
			}
	}
}

/* sidecar asks the app of its own pod over localhost, every few seconds:
 * the point is the traffic, which `ss` and tcpdump on lo show. */
static void sidecar(const struct workload *w)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)w->port)};
	struct timeval tv = {2, 0};
	char buf[512];
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	become_nobody();
	for (;;) {
		int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (s >= 0) {
			setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
			setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
		}
		if (s >= 0 && connect(s, (struct sockaddr *)&a, sizeof a) == 0) {
			const char *req = "GET / HTTP/1.0\r\nHost: localhost\r\nUser-Agent: netlab-sidecar\r\n\r\n";
			(void)!send(s, req, strlen(req), MSG_NOSIGNAL);
			while (recv(s, buf, sizeof buf, 0) > 0)
				;
		}
		if (s >= 0)
			close(s);
		sleep(5);
	}
}

/* pipe_end is one direction of a relayed connection: bytes read from one
 * socket, waiting to be written to the other. */
struct pipe_end {
	char buf[4096];
	int len, off, eof;
};

/* relay is one connection through the proxy: the client's socket, the one
 * to the container, and a buffer each way. */
struct relay {
	int fd[2]; /* 0: client, 1: container */
	int connected;
	struct pipe_end to[2]; /* to[i]: bytes for fd[i] */
};

/* proxy is Docker's userland proxy: listen on the node's published port on
 * every address of one family (v6: IPv6's, [::]; else IPv4's, loopback
 * included), as each docker-proxy does, and relay every connection to the
 * container's address of either family, connecting from the node's own
 * address on the bridge. It is why a container reached through it sees the
 * bridge's address (172.17.0.1) as its client. Many connections at once,
 * each both ways, half-closes passed on; a peer that resets ends only its
 * own connection. An IPv6 proxy to an IPv4 address on a node without IPv6
 * has nothing to listen on: it says it is ready, and ends. */
static void proxy(const struct workload *w, int v6, int ready)
{
	struct sockaddr_storage target = {0};
	socklen_t tlen;
	struct sockaddr_in *t4 = (struct sockaddr_in *)&target;
	struct sockaddr_in6 *t6 = (struct sockaddr_in6 *)&target;
	if (inet_pton(AF_INET, w->ip, &t4->sin_addr) == 1) {
		t4->sin_family = AF_INET;
		t4->sin_port = htons((unsigned short)w->tport);
		tlen = sizeof *t4;
	} else if (inet_pton(AF_INET6, w->ip, &t6->sin6_addr) == 1) {
		t6->sin6_family = AF_INET6;
		t6->sin6_port = htons((unsigned short)w->tport);
		tlen = sizeof *t6;
	} else {
		dprintf(ready, "%s: %s is not an address to relay to\n", w->name, w->ip);
		_exit(1);
	}
	int s = listen_on(w, v6);
	if (s < 0 && v6 && target.ss_family == AF_INET && (errno == EAFNOSUPPORT || errno == EADDRNOTAVAIL)) {
		(void)!write(ready, "+", 1);
		_exit(0);
	}
	ready_or_die(w, s, ready);
	become_nobody();

	static struct relay rs[MAXCONN];
	static struct pollfd pfd[2 * MAXCONN + 1];
	int n = 0;
	for (;;) {
		int np = 0;
		for (int i = 0; i < n; i++)
			for (int k = 0; k < 2; k++) {
				short ev = 0;
				struct relay *r = &rs[i];
				if (k == 1 && !r->connected)
					ev = POLLOUT; /* the connect to the container */
				else {
					if (!r->to[1 - k].eof && r->to[1 - k].len == 0)
						ev |= POLLIN; /* room to read fd[k] into */
					if (r->to[k].len > r->to[k].off)
						ev |= POLLOUT;
				}
				pfd[np++] = (struct pollfd){.fd = r->fd[k], .events = ev};
			}
		if (n < MAXCONN)
			pfd[np++] = (struct pollfd){.fd = s, .events = POLLIN};
		if (poll(pfd, (nfds_t)np, -1) < 0 && errno != EINTR)
			_exit(1);
		for (int i = 0; i < n; i++) {
			struct relay *r = &rs[i];
			int dead = 0;
			for (int k = 0; k < 2 && !dead; k++) {
				short re = pfd[2 * i + k].revents;
				if (!re)
					continue;
				if (re & POLLERR) {
					dead = 1; /* reset, or the container refused */
					break;
				}
				if (k == 1 && !r->connected) {
					int err = 0;
					socklen_t el = sizeof err;
					getsockopt(r->fd[1], SOL_SOCKET, SO_ERROR, &err, &el);
					if (err) {
						dead = 1;
						break;
					}
					r->connected = 1;
					continue;
				}
				struct pipe_end *in = &r->to[1 - k], *out = &r->to[k];
				if ((re & (POLLIN | POLLHUP | POLLERR)) && !in->eof && in->len == 0) {
					ssize_t got = recv(r->fd[k], in->buf, sizeof in->buf, MSG_DONTWAIT);
					if (got > 0)
						in->len = (int)got, in->off = 0;
					else if (got == 0)
						in->eof = 1;
					else if (errno != EAGAIN && errno != EINTR)
						dead = 1;
				}
				if ((re & POLLOUT) && out->len > out->off) {
					ssize_t put = send(r->fd[k], out->buf + out->off, (size_t)(out->len - out->off), MSG_NOSIGNAL | MSG_DONTWAIT);
					if (put > 0)
						out->off += (int)put;
					else if (put < 0 && errno != EAGAIN && errno != EINTR)
						dead = 1;
				}
				if (out->off == out->len)
					out->len = out->off = 0;
			}
			/* A side that ended, with all it sent delivered: pass the
			 * half-close on. Both ended: the connection is done. */
			for (int k = 0; k < 2 && !dead; k++)
				if (r->to[k].eof == 1 && r->to[k].len == 0 && r->connected) {
					shutdown(r->fd[k], SHUT_WR);
					r->to[k].eof = 2;
				}
			if (dead || (r->to[0].eof == 2 && r->to[1].eof == 2)) {
				close(r->fd[0]);
				close(r->fd[1]);
				r->fd[0] = -1;
			}
		}
		int kept = 0;
		for (int i = 0; i < n; i++)
			if (rs[i].fd[0] >= 0)
				rs[kept++] = rs[i];
		n = kept;
		while (n < MAXCONN) {
			int c = accept4(s, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
			if (c < 0)
				break;
			int t = socket(target.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
			if (t < 0 || (connect(t, (struct sockaddr *)&target, tlen) < 0 && errno != EINPROGRESS)) {
				close(c);
				if (t >= 0)
					close(t);
				continue;
			}
			memset(&rs[n], 0, sizeof rs[n]);
			rs[n].fd[0] = c;
			rs[n].fd[1] = t;
			n++;
		}
	}
}

/* run_task is a workload process, just forked: enter the workload's network
 * namespace for good, then serve (web, app) or ask (sidecar). */
/* bind_udp binds a datagram socket to the workload's port on every
 * address of one family (IPv4, or IPv6 only), asking for each datagram's
 * destination address: the socket, or -1 with errno set. */
static int bind_udp(const struct workload *w, int v6)
{
	int one = 1;
	int s = socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s < 0)
		return -1;
	struct sockaddr_in a4 = {.sin_family = AF_INET, .sin_port = htons((unsigned short)w->port)};
	struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_port = htons((unsigned short)w->port), .sin6_addr = IN6ADDR_ANY_INIT};
	if (v6) {
		setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
		setsockopt(s, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one);
	}
	int r = v6 ? bind(s, (struct sockaddr *)&a6, sizeof a6) : bind(s, (struct sockaddr *)&a4, sizeof a4);
	if (r < 0) {
		int e = errno;
		close(s);
		errno = e;
		return -1;
	}
	return s;
}

/* serve_udp answers every datagram on the workload's port (IPv4, and IPv6
 * where the namespace has it) with one datagram: the line a web server
 * answers, ip= the address it was asked at. */
static void serve_udp(const struct workload *w, int ready)
{
	int s6 = has_ipv6() ? bind_udp(w, 1) : -1;
	int s4 = bind_udp(w, 0);
	ready_or_die(w, s4, ready);
	become_nobody();
	struct pollfd pfd[2] = {{.fd = s4, .events = POLLIN}, {.fd = s6, .events = POLLIN}};
	for (;;) {
		if (poll(pfd, s6 >= 0 ? 2 : 1, -1) < 0 && errno != EINTR)
			_exit(1);
		for (int l = 0; l < 2; l++) {
			if (pfd[l].fd < 0 || !(pfd[l].revents & POLLIN))
				continue;
			char buf[512], ctl[256], client[INET6_ADDRSTRLEN] = "?", self6[INET6_ADDRSTRLEN] = "";
			struct sockaddr_storage peer;
			struct iovec iov = {.iov_base = buf, .iov_len = sizeof buf};
			struct msghdr m = {.msg_name = &peer, .msg_namelen = sizeof peer, .msg_iov = &iov, .msg_iovlen = 1,
					   .msg_control = ctl, .msg_controllen = sizeof ctl};
			if (recvmsg(pfd[l].fd, &m, MSG_DONTWAIT) < 0)
				continue;
			const char *ip = w->ip;
			if (peer.ss_family == AF_INET6) {
				inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&peer)->sin6_addr, client, sizeof client);
				for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
					if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO &&
					    inet_ntop(AF_INET6, &((struct in6_pktinfo *)CMSG_DATA(c))->ipi6_addr, self6, sizeof self6))
						ip = self6;
			} else {
				inet_ntop(AF_INET, &((struct sockaddr_in *)&peer)->sin_addr, client, sizeof client);
			}
			char out[512];
			int n = snprintf(out, sizeof out, "name=%s ip=%s node=%s client=%s\nthe color is %s\n", w->name, ip, w->node,
					 client, w->tag);
			if (n > 0)
				(void)!sendto(pfd[l].fd, out, (size_t)(n < (int)sizeof out ? n : (int)sizeof out - 1), MSG_DONTWAIT,
					      (struct sockaddr *)&peer, m.msg_namelen);
		}
	}
}

static void run_task(const struct workload *w, const char *role, int ready)
{
	/* Keep only the pipe it reports on, so that netlab sees fd 3 close
	 * when netlab-pod itself ends. */
	close(3);
	if (strcmp(role, "proxy") == 0 || strcmp(role, "proxy6") == 0) {
		/* In the node's own namespace, where netlab-pod was started, and
		 * named as Docker's is, for `ss -ltnp` and ps. */
		prctl(PR_SET_NAME, "docker-proxy", 0, 0, 0);
		proxy(w, role[5] == '6', ready);
	}
	if (strcmp(role, "reserve") == 0 || strcmp(role, "reserve6") == 0) {
		/* dockerd's own hold on the port: listening, never accepting. */
		prctl(PR_SET_NAME, "dockerd", 0, 0, 0);
		ready_or_die(w, listen_on(w, role[7] == '6'), ready);
		become_nobody();
		for (;;)
			pause();
	}
	int fd = open(w->netns, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || setns(fd, CLONE_NEWNET) < 0) {
		dprintf(ready, "%s: enter %s: %s\n", w->name, w->netns, strerror(errno));
		_exit(1);
	}
	close(fd);
	set_comm(role, w->name);
	if (strcmp(role, "sidecar") == 0) {
		close(ready);
		sidecar(w);
	}
	if (strcmp(role, "udp") == 0)
		serve_udp(w, ready);
	serve(w, strcmp(role, "app") == 0 ? "app" : NULL, ready);
	_exit(0);
}

/* field copies the next field of a spec line (fields are separated by one
 * space) into out, of size cap: 0 when there is none, or it is empty, too
 * long or holds a byte that is not printable ASCII. internal/podruntime
 * writes the same rules down on netlab's side. */
static int field(char **p, char *out, size_t cap)
{
	size_t n = 0;
	char *s = *p;
	while (s[n] && s[n] != ' ' && s[n] != '\n') {
		unsigned char c = (unsigned char)s[n];
		if (c < 0x21 || c > 0x7e || n + 1 >= cap)
			return 0;
		n++;
	}
	if (n == 0)
		return 0;
	memcpy(out, s, n);
	out[n] = 0;
	*p = s + n + (s[n] == ' ');
	return 1;
}

static int number(const char *s, int *v)
{
	char *end;
	long t = strtol(s, &end, 10);
	if (*end || end == s || t < 1 || t > 65535)
		return 0;
	*v = (int)t;
	return 1;
}

/* parse reads one spec line, strictly: six fields (seven for "image" and
 * "proxy"), each within its buffer, and nothing after them. */
static int parse(char *line, struct workload *w)
{
	char port[16], seventh[64] = "";
	char *p = line;
	size_t len = strlen(line);
	if (len == 0 || line[len - 1] != '\n')
		return 0; /* longer than a line, or cut short */
	w->tport = 0;
	w->tag[0] = 0;
	if (!field(&p, w->netns, sizeof w->netns) || !field(&p, w->name, sizeof w->name) || !field(&p, w->ip, sizeof w->ip) ||
	    !field(&p, w->node, sizeof w->node) || !field(&p, w->kind, sizeof w->kind) || !field(&p, port, sizeof port) ||
	    !number(port, &w->port))
		return 0;
	int proxy = strcmp(w->kind, "proxy") == 0 || strcmp(w->kind, "proxy6") == 0;
	int udp = strcmp(w->kind, "image-udp") == 0;
	int seven = proxy || udp || strcmp(w->kind, "image") == 0;
	if (seven && !field(&p, seventh, sizeof seventh))
		return 0;
	if (*p != '\n' || p[1])
		return 0; /* a field too many, or two spaces */
	if (proxy)
		return number(seventh, &w->tport);
	if (udp || strcmp(w->kind, "image") == 0) {
		/* an image tag: letters, digits, '_', '.', '-' (at most 63) */
		for (const char *c = seventh; *c; c++)
			if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '_' || *c == '.' || *c == '-'))
				return 0;
		strcpy(w->tag, seventh);
		strcpy(w->kind, udp ? "udp" : "web");
		return 1;
	}
	return strcmp(w->kind, "web") == 0 || strcmp(w->kind, "pod") == 0 || strcmp(w->kind, "reserve") == 0 ||
	       strcmp(w->kind, "reserve6") == 0;
}

static int pod_main(int argc, char **argv)
{
	struct workload *ws = NULL;
	int n = 0, cap = 0, expected = 0;
	char line[MAXLINE];
	int tell = fcntl(3, F_GETFD) >= 0 ? 3 : -1;
	int pipefd[2];

	if (argc != 5 || strcmp(argv[1], "--lab") || strcmp(argv[3], "--host")) {
		fprintf(stderr, "usage: netlab netlab-pod --lab LAB --host HOST < spec (started by netlab)\n");
		return 2;
	}
	workload_uid = lab_uid(argv[2]);
	while (fgets(line, sizeof line, stdin)) {
		if (line[0] == '#' || line[0] == '\n')
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			ws = realloc(ws, (size_t)cap * sizeof *ws);
			if (!ws)
				return 1;
		}
		if (n == 8192 || !parse(line, &ws[n])) {
			dprintf(tell >= 0 ? tell : 2, "netlab-pod: bad spec line: %s", line);
			return 2;
		}
		n++;
	}
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return 1;
	parent = getpid();
	fflush(NULL);
	for (int i = 0; i < n; i++) {
		int pod = strcmp(ws[i].kind, "pod") == 0;
		const char *roles[2] = {pod ? "app" : ws[i].kind, pod ? "sidecar" : NULL};
		for (int r = 0; r < 2 && roles[r]; r++) {
			pid_t pid = fork();
			if (pid == 0) {
				close(pipefd[0]);
				run_task(&ws[i], roles[r], pipefd[1]);
			}
			if (pid < 0) {
				dprintf(tell >= 0 ? tell : 2, "netlab-pod: start %s of %s: %s\n", roles[r], ws[i].name, strerror(errno));
				kill(0, SIGKILL);
				return 1;
			}
			if (strcmp(roles[r], "sidecar") != 0)
				expected++;
		}
	}
	close(pipefd[1]);
	/* Every server writes one byte when it listens, or a line saying why
	 * it could not. */
	int ok = 0;
	char buf[512];
	while (ok < expected) {
		ssize_t r = read(pipefd[0], buf, sizeof buf - 1);
		if (r <= 0)
			break;
		for (ssize_t i = 0; i < r; i++)
			if (buf[i] == '+')
				ok++;
		if (memchr(buf, '\n', (size_t)r)) {
			buf[r] = 0;
			char *start = buf;
			while (*start == '+')
				start++;
			dprintf(tell >= 0 ? tell : 2, "%s", start);
			kill(0, SIGKILL);
			return 1;
		}
	}
	close(pipefd[0]);
	if (ok < expected) {
		dprintf(tell >= 0 ? tell : 2, "netlab-pod: only %d of %d servers started\n", ok, expected);
		return 1;
	}
	if (tell >= 0) {
		(void)!write(tell, "ready\n", 6);
		close(tell);
	}
	/* Stay as the parent that reaps the workloads' processes. */
	while (wait(NULL) > 0 || errno == EINTR)
		;
	return 0;
}

static pid_t supervised;

/* forward passes a signal sent to netlab (by kill, a test, a supervisor)
 * on to the process that does the work. One from the terminal reached the
 * whole process group, that process too, and is not passed twice. */
static void forward(int sig, siginfo_t *info, void *ctx)
{
	(void)ctx;
	if (info->si_code == SI_USER || info->si_code == SI_QUEUE)
		kill(supervised, sig);
}

/* supervise runs the rest of netlab (the Go program) in a child and waits
 * for it. netlab's exit code 2 promises "bad input, nothing changed"; the Go
 * runtime exits with 2 as well when it aborts (it cannot start a thread
 * under a pids limit, say), with a lab perhaps half-built. So the child says
 * on a pipe (NETLAB_STATUS_FD) when a 2 is netlab's own ('u'), or when it is
 * about to become another program ('x', netlab exec, whose code is passed
 * through as it is); a 2 it did not announce is an abort, reported as 1.
 * The child dies with this process (PR_SET_PDEATHSIG), as netlab did
 * before: kill -9 of netlab still stops it where it is. Without a pipe or a
 * fork (a pids limit), netlab simply runs unsupervised. */
static void supervise(void)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return;
	pid_t self = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return;
	}
	if (pid == 0) {
		char fd[16];
		close(p[0]);
		if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != self)
			_exit(1);
		snprintf(fd, sizeof fd, "%d", p[1]);
		setenv("NETLAB_STATUS_FD", fd, 1);
		return; /* on into the Go runtime */
	}
	close(p[1]);
	supervised = pid;
	struct sigaction sa = {.sa_sigaction = forward, .sa_flags = SA_SIGINFO | SA_RESTART};
	sigemptyset(&sa.sa_mask);
	int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		sigaction(sigs[i], &sa, NULL);
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			_exit(1);
	char said = 0;
	if (read(p[0], &said, 1) != 1)
		said = 0;
	if (WIFSIGNALED(status)) {
		int sig = WTERMSIG(status);
		signal(sig, SIG_DFL);
		raise(sig);
		_exit(128 + sig);
	}
	int code = WEXITSTATUS(status);
	if (code == 2 && said != 'u' && said != 'x') {
		fprintf(stderr, "netlab: the Go runtime aborted (its message is above), so this is exit 1, not 2: "
				"if a lab was being built, 'sudo netlab down' removes what it made\n");
		_exit(1);
	}
	_exit(code);
}

/* netlab_pod_ctor runs before main and before the Go runtime: if netlab was
 * started as "netlab netlab-pod ...", it becomes netlab-pod and never
 * returns. Otherwise it supervises the rest of netlab (see supervise). */
__attribute__((constructor)) static void netlab_pod_ctor(void)
{
	static char buf[8192];
	char *argv[16];
	int argc = 0;
	int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = 0;
	for (char *p = buf; p < buf + n && argc < 15; p += strlen(p) + 1)
		argv[argc++] = p;
	argv[argc] = NULL;
	if (argc < 2 || strcmp(argv[1], "netlab-pod") != 0) {
		supervise();
		return;
	}
	_exit(pod_main(argc - 1, argv + 1));
}
