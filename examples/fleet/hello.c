/* hello: the fleet example's service, small enough to read in a minute and built
 * statically for every board (see hello.yaml and docs/fleet.md).
 *
 *   hello serve PORT    answers every HTTP request on PORT with 200 and
 *                       "hello from MACHINE\n" (uname -m); exits 0 on SIGTERM
 *   hello check PORT    GET / from 127.0.0.1:PORT: exits 0 on a 200 answer, else 1;
 *                       the health check `rkt status --wait-ready ... -- hello check` runs
 *
 * One request at a time, no threads: C99 and POSIX sockets only. */
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

static volatile sig_atomic_t stopping;

static void on_term(int sig)
{
	(void)sig;
	stopping = 1;
}

static int port_of(const char *s)
{
	char *end;
	long port = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || port < 1 || port > 65535) {
		fprintf(stderr, "hello: \"%s\" is not a port\n", s);
		exit(2);
	}
	return (int)port;
}

static struct sockaddr_in address(int port, in_addr_t host)
{
	struct sockaddr_in a;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_port = htons((unsigned short)port);
	a.sin_addr.s_addr = host;
	return a;
}

static void write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return; /* the client left: nothing to do */
		p += w, n -= (size_t)w;
	}
}

static int serve(int port)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_term; /* no SA_RESTART: accept() returns EINTR */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	struct utsname u;
	char body[128];
	uname(&u);
	int len = snprintf(body, sizeof body, "hello from %s\n", u.machine);
	char response[256];
	int n = snprintf(response, sizeof response,
			 "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len, body);

	int s = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in a = address(port, htonl(INADDR_ANY));
	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) < 0 || listen(s, 16) < 0) {
		fprintf(stderr, "hello: port %d: %s\n", port, strerror(errno));
		return 1;
	}
	printf("hello: serving on port %d\n", port);
	fflush(stdout);
	while (!stopping) {
		int c = accept(s, NULL, NULL);
		if (c < 0)
			continue; /* EINTR from SIGTERM, or a client that left */
		struct timeval tv = { .tv_sec = 2 };
		setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
		char request[1024];
		ssize_t got = read(c, request, sizeof request); /* the request line is enough */
		if (got > 0)
			write_all(c, response, (size_t)n);
		close(c);
	}
	printf("hello: stopped\n");
	return 0;
}

static int check(int port)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = address(port, htonl(INADDR_LOOPBACK));
	if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof a) < 0) {
		fprintf(stderr, "hello: check: 127.0.0.1:%d: %s\n", port, strerror(errno));
		return 1;
	}
	const char *get = "GET / HTTP/1.0\r\n\r\n";
	write_all(s, get, strlen(get));
	char status[16] = { 0 };
	size_t have = 0;
	while (have < sizeof status - 1) {
		ssize_t r = read(s, status + have, sizeof status - 1 - have);
		if (r <= 0)
			break;
		have += (size_t)r;
	}
	close(s);
	if (strncmp(status, "HTTP/1.0 200", 12) != 0 && strncmp(status, "HTTP/1.1 200", 12) != 0) {
		fprintf(stderr, "hello: check: 127.0.0.1:%d answered \"%.12s\"\n", port, status);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "serve") == 0)
		return serve(port_of(argv[2]));
	if (argc == 3 && strcmp(argv[1], "check") == 0)
		return check(port_of(argv[2]));
	fprintf(stderr, "usage: hello serve PORT | hello check PORT\n");
	return 2;
}
