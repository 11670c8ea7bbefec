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
 * or the outside host). KIND "pod" is two processes sharing the pod's
 * network namespace, as the containers of a Kubernetes pod do: "app", a web
 * server on PORT, and "sidecar", which asks the app over localhost every few
 * seconds. Every web server answers any request with one line:
 *
 *   name=pod1 ip=10.244.1.2 node=node1 container=app client=10.244.2.2
 *
 * so whoever asks learns who answered and which source address arrived,
 * which is how the lab shows NAT, or its absence, with real packets.
 *
 * Why C and clone: a lab may hold a thousand pods, two processes each, and
 * on a small VM every exec of a program costs milliseconds and every fork
 * most of one. netlab-pod is exec'd once per host; each workload process is
 * a clone of it that shares its memory (CLONE_VM, as posix_spawn does) but
 * is a process of its own, with its own pid and its own network namespace,
 * entered with setns(2). Such children must not touch the heap (their
 * stacks are allocated before the first clone) and only serve sockets. fd 3,
 * if open, gets "ready\n" once every server listens (or the reason one
 * could not); then netlab-pod stays as the parent that reaps its children,
 * and exits when they are gone.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
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
#include <unistd.h>

#define MAXLINE 1024
#define STACK (64 * 1024)

struct workload {
	char netns[512], name[64], ip[64], node[64], kind[16];
	int port;
};

static void set_comm(const char *role, const char *name)
{
	char comm[16];
	snprintf(comm, sizeof comm, "%.7s:%.7s", role, name);
	prctl(PR_SET_NAME, comm, 0, 0, 0);
}

static void answer(int c, const struct workload *w, const char *container)
{
	char req[2048], body[512], resp[1024], client[INET6_ADDRSTRLEN] = "?";
	struct sockaddr_in peer;
	socklen_t plen = sizeof peer;
	struct timeval tv = {2, 0};
	setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	/* Read until the end of the request headers (or give up): the answer
	 * is the same for any request. */
	size_t got = 0;
	while (got < sizeof req - 1) {
		ssize_t n = read(c, req + got, sizeof req - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
		req[got] = 0;
		if (strstr(req, "\r\n\r\n") || strstr(req, "\n\n"))
			break;
	}
	if (getpeername(c, (struct sockaddr *)&peer, &plen) == 0)
		inet_ntop(AF_INET, &peer.sin_addr, client, sizeof client);
	int blen;
	if (container)
		blen = snprintf(body, sizeof body, "name=%s ip=%s node=%s container=%s client=%s\n",
				w->name, w->ip, w->node, container, client);
	else
		blen = snprintf(body, sizeof body, "name=%s ip=%s node=%s client=%s\n",
				w->name, w->ip, w->node, client);
	int rlen = snprintf(resp, sizeof resp,
			    "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
			    "Connection: close\r\n\r\n%s", blen, body);
	ssize_t off = 0;
	while (off < rlen) {
		ssize_t n = write(c, resp + off, (size_t)(rlen - off));
		if (n <= 0)
			break;
		off += n;
	}
	close(c);
}

/* serve listens on the workload's port and answers forever. It reports
 * to ready (one byte, or an error line) once it listens. */
static void serve(const struct workload *w, const char *container, int ready)
{
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)w->port)};
	char msg[256];
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) < 0 || listen(s, 128) < 0) {
		int n = snprintf(msg, sizeof msg, "%s: listen on port %d: %s\n", w->name, w->port, strerror(errno));
		(void)!write(ready, msg, (size_t)n);
		_exit(1);
	}
	(void)!write(ready, "+", 1);
	close(ready);
	for (;;) {
		int c = accept4(s, NULL, NULL, SOCK_CLOEXEC);
		if (c >= 0)
			answer(c, w, container);
	}
}

/* sidecar asks the app of its own pod over localhost, every few seconds,
 * and keeps the last answer in its process title's reach: the point is the
 * traffic, which `ss` and tcpdump on lo show. */
static void sidecar(const struct workload *w)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)w->port)};
	char buf[512];
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	for (;;) {
		int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (s >= 0 && connect(s, (struct sockaddr *)&a, sizeof a) == 0) {
			const char *req = "GET / HTTP/1.0\r\nHost: localhost\r\nUser-Agent: netlab-sidecar\r\n\r\n";
			(void)!write(s, req, strlen(req));
			while (read(s, buf, sizeof buf) > 0)
				;
		}
		if (s >= 0)
			close(s);
		sleep(5);
	}
}

struct task {
	const struct workload *w;
	const char *role; /* web, app or sidecar */
};

static int ready_fd = -1;

/* run_task is a workload process: enter the workload's network namespace
 * for good, then serve (web, app) or ask (sidecar). */
static int run_task(void *arg)
{
	const struct task *t = arg;
	/* The child has its own copy of the descriptors: keep only the pipe it
	 * reports on, so netlab sees fd 3 close when netlab-pod itself ends. */
	close(3);
	int fd = open(t->w->netns, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || setns(fd, CLONE_NEWNET) < 0) {
		dprintf(ready_fd, "%s: enter %s: %s\n", t->w->name, t->w->netns, strerror(errno));
		_exit(1);
	}
	close(fd);
	set_comm(t->role, t->w->name);
	if (strcmp(t->role, "sidecar") == 0) {
		close(ready_fd);
		sidecar(t->w);
	}
	serve(t->w, strcmp(t->role, "app") == 0 ? "app" : NULL, ready_fd);
	return 0;
}

static int parse(char *line, struct workload *w)
{
	return sscanf(line, "%511s %63s %63s %63s %15s %d", w->netns, w->name, w->ip, w->node, w->kind, &w->port) == 6;
}

static int pod_main(int argc, char **argv)
{
	static struct workload ws[8192];
	int n = 0, expected = 0;
	char line[MAXLINE];
	int tell = fcntl(3, F_GETFD) >= 0 ? 3 : -1;
	int pipefd[2];

	if (argc != 5 || strcmp(argv[1], "--lab") || strcmp(argv[3], "--host")) {
		fprintf(stderr, "usage: netlab netlab-pod --lab LAB --host HOST < spec (started by netlab)\n");
		return 2;
	}
	while (fgets(line, sizeof line, stdin)) {
		if (line[0] == '#' || line[0] == '\n')
			continue;
		if (n == (int)(sizeof ws / sizeof ws[0]) || !parse(line, &ws[n])) {
			dprintf(tell >= 0 ? tell : 2, "netlab-pod: bad spec line: %s", line);
			return 2;
		}
		n++;
	}
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return 1;
	ready_fd = pipefd[1];
	/* Every stack up front: the children share this heap and must never
	 * allocate from it. A pod has two processes, app and sidecar. */
	int procs = 0;
	for (int i = 0; i < n; i++)
		procs += strcmp(ws[i].kind, "pod") == 0 ? 2 : 1;
	char *stacks = malloc((size_t)procs * STACK);
	struct task *tasks = calloc((size_t)procs, sizeof *tasks);
	if (!stacks || !tasks)
		return 1;
	int t = 0;
	for (int i = 0; i < n; i++) {
		tasks[t++] = (struct task){&ws[i], strcmp(ws[i].kind, "pod") == 0 ? "app" : "web"};
		if (strcmp(ws[i].kind, "pod") == 0)
			tasks[t++] = (struct task){&ws[i], "sidecar"};
	}
	for (int i = 0; i < procs; i++) {
		pid_t pid = clone(run_task, stacks + (size_t)(i + 1) * STACK, CLONE_VM | SIGCHLD, &tasks[i]);
		if (pid < 0) {
			dprintf(tell >= 0 ? tell : 2, "netlab-pod: start %s of %s: %s\n", tasks[i].role, tasks[i].w->name, strerror(errno));
			kill(0, SIGKILL);
			return 1;
		}
		if (strcmp(tasks[i].role, "sidecar") != 0)
			expected++;
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

/* netlab_pod_ctor runs before main and before the Go runtime: if netlab was
 * started as "netlab netlab-pod ...", it becomes netlab-pod and never
 * returns. Otherwise it returns and netlab starts as usual. */
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
	if (argc < 2 || strcmp(argv[1], "netlab-pod") != 0)
		return;
	_exit(pod_main(argc - 1, argv + 1));
}
