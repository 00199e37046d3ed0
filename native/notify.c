#define _GNU_SOURCE
#include "notify.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "util.h"

/* The sd_notify protocol without libsystemd: one datagram of NAME=VALUE lines to the
 * AF_UNIX socket named by NOTIFY_SOCKET, a path or, after "@", an abstract name. The
 * receiver (systemd) takes the sender's credentials from the kernel, so the message
 * needs nothing else. Stage0 hands stage1 a NOTIFY_SOCKET it can reach from inside the
 * stage1 root (docs/stage1-interface.md). */

static bool ready_sent;

/* One line on stderr, as die() writes them, but the caller goes on. */
static void warn_errno(const char *call, const char *what)
{
	char line[512];
	int n = snprintf(line, sizeof line, "stage1: %s %s: %s (the pod runs on)\n", call, what, strerror(errno));
	if (n > 0) {
		ssize_t ignored = write(STDERR_FILENO, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
		(void)ignored;
	}
}

static void sd_notify_text(const char *text)
{
	const char *name = getenv("NOTIFY_SOCKET");
	if (!name || !*name)
		return;
	struct sockaddr_un addr;
	memset(&addr, 0, sizeof addr);
	addr.sun_family = AF_UNIX;
	size_t len = strlen(name);
	if ((name[0] != '/' && name[0] != '@') || len >= sizeof addr.sun_path) {
		errno = EINVAL;
		warn_errno("notify", name);
		return;
	}
	memcpy(addr.sun_path, name, len);
	if (name[0] == '@')
		addr.sun_path[0] = '\0'; /* abstract: the length, not a NUL, ends the name */
	socklen_t addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (name[0] == '/' ? 1 : 0));
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		warn_errno("socket", "AF_UNIX");
		return;
	}
	ssize_t n;
	do
		n = sendto(fd, text, strlen(text), MSG_NOSIGNAL, (const struct sockaddr *)&addr, addrlen);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		warn_errno("notify", name);
	close(fd);
}

static bool all_started(const struct pod *pod)
{
	char path[PATH_MAX];
	for (size_t i = 0; i < pod->napps; i++) {
		path_join(path, sizeof path, RKT_DIR "/started", pod->apps[i].name);
		if (access(path, F_OK) < 0)
			return false;
	}
	return true;
}

void notify_if_ready(const struct pod *pod)
{
	if (ready_sent || !all_started(pod))
		return;
	ready_sent = true;
	/* The file first: whoever systemd tells that the pod is ready finds it so. */
	write_file_atomic(RKT_DIR "/ready", "");
	sd_notify_text("READY=1");
}
