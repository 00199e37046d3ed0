/*
 * hello-http: the smallest useful network service for a board, one static binary.
 *
 *   hello-http [PORT]      (else $PORT, else 8080)
 *
 * Answers every GET (and HEAD) with "hello from <arch> (<uname -m>)\n", where <arch>
 * is the appc arch it was built for and uname -m what the kernel (or qemu) says it runs
 * on; anything else gets 405. One connection at a time, closed after each answer. Logs
 * one line per request to stdout. SIGTERM or SIGINT: exits 0.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <unistd.h>

#ifndef HELLO_ARCH
#error "build with -DHELLO_ARCH='\"armv7l\"' (see build.sh)"
#endif

#define REQUEST_MAX 8192

static void on_signal(int sig) {
	static const char line[] = "hello-http: stopping\n";
	(void)sig;
	/* write(2) and _exit(2) are async-signal-safe; nothing is left to flush or close. */
	ssize_t ignored = write(STDOUT_FILENO, line, sizeof line - 1);
	(void)ignored;
	_exit(0);
}

static int parse_port(const char *s) {
	char *end;
	long port;
	errno = 0;
	port = strtol(s, &end, 10);
	if (errno != 0 || *s == '\0' || *end != '\0' || port < 1 || port > 65535) return -1;
	return (int)port;
}

/* A socket listening on every address, IPv6 and IPv4 at once where the kernel has IPv6. */
static int listen_on(int port) {
	int one = 1, zero = 0;
	int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0) {
		struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_port = htons(port), .sin6_addr = IN6ADDR_ANY_INIT};
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
		if (bind(fd, (struct sockaddr *)&a6, sizeof a6) == 0 && listen(fd, 64) == 0) return fd;
		if (errno == EADDRINUSE || errno == EACCES) return -1;
		close(fd);
	}
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) return -1;
	struct sockaddr_in a4 = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_ANY)};
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(fd, (struct sockaddr *)&a4, sizeof a4) == 0 && listen(fd, 64) == 0) return fd;
	return -1;
}

static void send_all(int fd, const char *buf, size_t len) {
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR) continue;
		if (n <= 0) return;
		buf += n;
		len -= (size_t)n;
	}
}

/* The peer's address as text, IPv4-mapped addresses as plain IPv4. */
static void peer_name(const struct sockaddr_storage *peer, char *out, size_t size) {
	const void *addr = &((const struct sockaddr_in *)peer)->sin_addr;
	int family = peer->ss_family;
	if (family == AF_INET6) {
		const struct in6_addr *a6 = &((const struct sockaddr_in6 *)peer)->sin6_addr;
		addr = a6;
		if (IN6_IS_ADDR_V4MAPPED(a6)) {
			addr = &a6->s6_addr[12];
			family = AF_INET;
		}
	}
	if (!inet_ntop(family, addr, out, (socklen_t)size)) snprintf(out, size, "?");
}

static void serve(int client, const char *peer, const char *greeting) {
	char req[REQUEST_MAX + 1];
	size_t got = 0;
	/* Read up to the end of the headers; a client that sends nothing for 5 s is dropped. */
	struct timeval timeout = {.tv_sec = 5};
	setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
	while (got < REQUEST_MAX) {
		ssize_t n = recv(client, req + got, REQUEST_MAX - got, 0);
		if (n < 0 && errno == EINTR) continue;
		if (n <= 0) break;
		got += (size_t)n;
		req[got] = '\0';
		if (strstr(req, "\r\n\r\n") || strstr(req, "\n\n")) break;
	}
	req[got] = '\0';
	char method[16] = "", path[256] = "";
	if (sscanf(req, "%15s %255s", method, path) != 2) {
		printf("%s: bad request (%zu bytes)\n", peer, got);
		return;
	}
	for (char *c = path; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f) *c = '?'; /* no terminal escapes in the log */
	int head = strcmp(method, "HEAD") == 0;
	int ok = head || strcmp(method, "GET") == 0;
	const char *body = ok ? greeting : "method not allowed\n";
	char header[256];
	int hlen = snprintf(header, sizeof header,
	                    "HTTP/1.0 %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
	                    "Content-Length: %zu\r\n%sConnection: close\r\n\r\n",
	                    ok ? "200 OK" : "405 Method Not Allowed", strlen(body), ok ? "" : "Allow: GET, HEAD\r\n");
	send_all(client, header, (size_t)hlen);
	if (!head) send_all(client, body, strlen(body));
	printf("%s %s %s %d\n", peer, method, path, ok ? 200 : 405);
}

int main(int argc, char **argv) {
	const char *arg = argc > 1 ? argv[1] : getenv("PORT");
	int port = arg ? parse_port(arg) : 8080;
	if (argc > 2 || port < 0) {
		fprintf(stderr, "usage: hello-http [PORT]   (default $PORT, else 8080; got %s)\n", arg ? arg : "too many arguments");
		return 2;
	}
	/* One line per request, even when stdout is a pipe or a file. */
	setvbuf(stdout, NULL, _IOLBF, 0);

	struct sigaction sa = {.sa_handler = on_signal};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	struct utsname u;
	char greeting[160];
	if (uname(&u) != 0) snprintf(u.machine, sizeof u.machine, "unknown");
	snprintf(greeting, sizeof greeting, "hello from %s (%s)\n", HELLO_ARCH, u.machine);

	int server = listen_on(port);
	if (server < 0) {
		fprintf(stderr, "hello-http: cannot listen on port %d: %s\n", port, strerror(errno));
		return 1;
	}
	printf("hello-http: %s listening on port %d\n", HELLO_ARCH, port);

	for (;;) {
		struct sockaddr_storage peer;
		socklen_t len = sizeof peer;
		int client = accept4(server, (struct sockaddr *)&peer, &len, SOCK_CLOEXEC);
		if (client < 0) {
			if (errno == EINTR || errno == ECONNABORTED) continue;
			fprintf(stderr, "hello-http: accept: %s\n", strerror(errno));
			return 1;
		}
		char name[INET6_ADDRSTRLEN];
		peer_name(&peer, name, sizeof name);
		serve(client, name, greeting);
		close(client);
	}
}
