#define _GNU_SOURCE
#include "plan.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>

#include "util.h"

/* The format, as stage1.conf's: NUL-terminated strings read as key, value, key,
 * value. The pod's keys come first, each once: version (1), hostname, net (host,
 * none or private), lock-fd, stage1-root and entrypoint, and with net private netns
 * (the network namespace file to join). Then each `op` (mkdir, mount, bind,
 * bind-device, symlink, remount-ro) starts an operation, whose keys follow it: root and
 * path (the target), and by kind source, source-root and source-path, fstype, data,
 * flag (repeated: nosuid, nodev, noexec), recursive and read-only (0 or 1), mode
 * (octal), uid and gid (all three or none), link-to. Unknown keys are an error. */

/* stage0 writes a few kB; anything near this is not a plan. */
#define PLAN_MAX (1 << 20)

#define BIT(n) (1u << (n))
#define ALL_KINDS (BIT(OP_REMOUNT_RO + 1) - 1)

static const char *const kind_names[] = { "mkdir", "mount", "bind", "bind-device", "symlink", "remount-ro", NULL };

enum op_key_id { K_ROOT, K_PATH, K_SOURCE, K_SOURCE_ROOT, K_SOURCE_PATH, K_FSTYPE, K_DATA, K_FLAG,
	K_RECURSIVE, K_READ_ONLY, K_MODE, K_UID, K_GID, K_LINK_TO, K_COUNT };

struct op_key {
	const char *name;
	unsigned kinds; /* the kinds of op it belongs to */
	bool repeated;
};

static const struct op_key op_keys[K_COUNT] = {
	[K_ROOT] = { "root", ALL_KINDS, false },
	[K_PATH] = { "path", ALL_KINDS, false },
	[K_SOURCE] = { "source", BIT(OP_MOUNT) | BIT(OP_BIND) | BIT(OP_BIND_DEVICE), false },
	[K_SOURCE_ROOT] = { "source-root", BIT(OP_BIND), false },
	[K_SOURCE_PATH] = { "source-path", BIT(OP_BIND), false },
	[K_FSTYPE] = { "fstype", BIT(OP_MOUNT), false },
	[K_DATA] = { "data", BIT(OP_MOUNT), false },
	[K_FLAG] = { "flag", BIT(OP_MOUNT) | BIT(OP_BIND) | BIT(OP_REMOUNT_RO), true },
	[K_RECURSIVE] = { "recursive", BIT(OP_BIND), false },
	[K_READ_ONLY] = { "read-only", BIT(OP_BIND), false },
	[K_MODE] = { "mode", BIT(OP_MKDIR), false },
	[K_UID] = { "uid", BIT(OP_MKDIR), false },
	[K_GID] = { "gid", BIT(OP_MKDIR), false },
	[K_LINK_TO] = { "link-to", BIT(OP_SYMLINK), false },
};

#define TARGET (BIT(K_ROOT) | BIT(K_PATH))

/* The keys each kind cannot do without (a bind's source is checked on its own). */
static const unsigned required[] = {
	[OP_MKDIR] = TARGET,
	[OP_MOUNT] = TARGET | BIT(K_SOURCE) | BIT(K_FSTYPE) | BIT(K_DATA),
	[OP_BIND] = TARGET,
	[OP_BIND_DEVICE] = TARGET | BIT(K_SOURCE),
	[OP_SYMLINK] = TARGET | BIT(K_LINK_TO),
	[OP_REMOUNT_RO] = TARGET,
};

/* P_NETNS, after the required ones, is given exactly when net is private. */
enum pod_key_id { P_VERSION, P_HOSTNAME, P_NET, P_LOCK_FD, P_STAGE1_ROOT, P_ENTRYPOINT, P_NETNS, P_COUNT };
#define P_REQUIRED P_NETNS

static const char *const pod_keys[P_COUNT + 1] = { "version", "hostname", "net", "lock-fd", "stage1-root", "entrypoint", "netns", NULL };

struct parser {
	const char *path;
	struct plan *plan;
	struct op *op;     /* the op being read; NULL before the first */
	unsigned seen;     /* op_keys given for this op */
	unsigned pod_seen; /* pod_keys given */
};

/* One line: the file, the op if there is one, then the problem. */
static noreturn __attribute__((format(printf, 2, 3))) void bad(struct parser *p, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (p->op)
		fail("parse %s: op %zu (%s): %s", p->path, (size_t)(p->op - p->plan->ops) + 1, kind_names[p->op->kind], msg);
	fail("parse %s: %s", p->path, msg);
}

static void check_absolute(struct parser *p, const char *key, const char *value)
{
	if (value[0] != '/')
		bad(p, "%s \"%s\" is not an absolute path", key, value);
}

static bool parse_flag(struct parser *p, const char *key, const char *value)
{
	if (strcmp(value, "0") && strcmp(value, "1"))
		bad(p, "%s \"%s\" is not 0 or 1", key, value);
	return value[0] == '1';
}

static unsigned long long parse_number(struct parser *p, const char *key, const char *value, int base, unsigned long long max)
{
	unsigned long long v;
	if (!parse_uint(value, base, max, &v))
		bad(p, "%s \"%s\" is not a%s number up to %llu", key, value, base == 8 ? "n octal" : " decimal", max);
	return v;
}

static unsigned long mount_flag(struct parser *p, const char *value)
{
	if (!strcmp(value, "nosuid"))
		return MS_NOSUID;
	if (!strcmp(value, "nodev"))
		return MS_NODEV;
	if (!strcmp(value, "noexec"))
		return MS_NOEXEC;
	bad(p, "flag \"%s\" is not nosuid, nodev or noexec", value);
}

static void pod_key(struct parser *p, const char *key, const char *value)
{
	struct plan *plan = p->plan;
	int id = index_of(pod_keys, key);
	if (id < 0) {
		for (int k = 0; k < K_COUNT; k++)
			if (!strcmp(op_keys[k].name, key))
				bad(p, "key \"%s\" comes before the first op", key);
		bad(p, "unknown key \"%s\"", key);
	}
	if (p->pod_seen & BIT(id))
		bad(p, "key \"%s\" is given twice", key);
	p->pod_seen |= BIT(id);
	switch ((enum pod_key_id)id) {
	case P_VERSION:
		if (strcmp(value, "1"))
			bad(p, "version \"%s\" is not 1: this stage1 reads plan version 1", value);
		break;
	case P_HOSTNAME:
		if (!value[0])
			bad(p, "the hostname is empty");
		plan->hostname = value;
		break;
	case P_NET:
		if (strcmp(value, "host") && strcmp(value, "none") && strcmp(value, "private"))
			bad(p, "net \"%s\" is not host, none or private", value);
		plan->new_net = !strcmp(value, "none");
		plan->join_net = !strcmp(value, "private");
		break;
	case P_NETNS:
		check_absolute(p, key, value);
		plan->netns = value;
		break;
	case P_LOCK_FD:
		plan->lock_fd = (int)parse_number(p, key, value, 10, INT_MAX);
		if (plan->lock_fd < 3)
			bad(p, "lock-fd %d is stdin, stdout or stderr", plan->lock_fd);
		break;
	case P_STAGE1_ROOT:
		check_absolute(p, key, value);
		plan->stage1_root = value;
		break;
	case P_ENTRYPOINT:
		check_absolute(p, key, value);
		plan->entrypoint = value;
		break;
	case P_COUNT:
		break;
	}
}

static void new_op(struct parser *p, const char *kind)
{
	int k = index_of(kind_names, kind);
	if (k < 0)
		bad(p, "unknown op \"%s\"", kind);
	struct plan *plan = p->plan;
	plan->ops = xrealloc(plan->ops, (plan->nops + 1) * sizeof *plan->ops);
	struct op *op = &plan->ops[plan->nops++];
	memset(op, 0, sizeof *op);
	op->kind = (enum op_kind)k;
	p->op = op;
	p->seen = 0;
}

static void op_key(struct parser *p, const char *key, const char *value)
{
	struct op *op = p->op;
	int id = -1;
	for (int k = 0; k < K_COUNT && id < 0; k++)
		if (!strcmp(op_keys[k].name, key))
			id = k;
	if (id < 0)
		bad(p, index_of(pod_keys, key) >= 0 ? "key \"%s\" belongs before the first op" : "unknown key \"%s\"", key);
	if (!(op_keys[id].kinds & BIT(op->kind)))
		bad(p, "key \"%s\" does not belong to this kind of op", key);
	if ((p->seen & BIT(id)) && !op_keys[id].repeated)
		bad(p, "key \"%s\" is given twice", key);
	p->seen |= BIT(id);
	switch ((enum op_key_id)id) {
	case K_ROOT:
		check_absolute(p, key, value);
		op->target.root = value;
		break;
	case K_PATH:
		op->target.path = value;
		break;
	case K_SOURCE:
		op->source = value;
		break;
	case K_SOURCE_ROOT:
		check_absolute(p, key, value);
		op->source_in.root = value;
		break;
	case K_SOURCE_PATH:
		op->source_in.path = value;
		break;
	case K_FSTYPE:
		op->fstype = value;
		break;
	case K_DATA:
		op->data = value;
		break;
	case K_FLAG:
		op->flags |= mount_flag(p, value);
		break;
	case K_RECURSIVE:
		op->recursive = parse_flag(p, key, value);
		break;
	case K_READ_ONLY:
		op->read_only = parse_flag(p, key, value);
		break;
	case K_MODE:
		op->mode = (mode_t)parse_number(p, key, value, 8, 07777);
		break;
	case K_UID:
		op->uid = (uid_t)parse_number(p, key, value, 10, UINT32_MAX - 1);
		break;
	case K_GID:
		op->gid = (gid_t)parse_number(p, key, value, 10, UINT32_MAX - 1);
		break;
	case K_LINK_TO:
		if (!value[0])
			bad(p, "link-to is empty");
		op->link_to = value;
		break;
	case K_COUNT:
		break;
	}
}

/* What an op cannot do without, checked once all its keys are read. */
static void check_op(struct parser *p)
{
	struct op *op = p->op;
	unsigned missing = required[op->kind] & ~p->seen;
	for (int k = 0; k < K_COUNT; k++)
		if (missing & BIT(k))
			bad(p, "no %s", op_keys[k].name);
	unsigned owner = p->seen & (BIT(K_MODE) | BIT(K_UID) | BIT(K_GID));
	if (owner && owner != (BIT(K_MODE) | BIT(K_UID) | BIT(K_GID)))
		bad(p, "mode, uid and gid come together");
	op->has_owner = owner != 0;
	if (op->kind == OP_BIND) {
		bool in_root = p->seen & (BIT(K_SOURCE_ROOT) | BIT(K_SOURCE_PATH));
		if (op->source ? in_root : !op->source_in.root || !op->source_in.path)
			bad(p, "a bind needs either source, or source-root and source-path");
	}
	if (op->source && (op->kind == OP_BIND || op->kind == OP_BIND_DEVICE))
		check_absolute(p, "source", op->source);
}

void plan_read(const char *path, struct plan *plan)
{
	memset(plan, 0, sizeof *plan);
	struct parser p = { .path = path, .plan = plan };
	size_t len;
	char *buf = read_file(path, PLAN_MAX, &len);
	if (len > 0 && buf[len - 1] != '\0')
		bad(&p, "the last string is not NUL-terminated");
	for (size_t at = 0; at < len;) {
		char *key, *value;
		if (!nul_pair(buf, len, &at, &key, &value))
			bad(&p, "key \"%s\" has no value", key);
		if (!strcmp(key, "op")) {
			if (p.op)
				check_op(&p);
			new_op(&p, value);
		} else if (p.op) {
			op_key(&p, key, value);
		} else {
			pod_key(&p, key, value);
		}
	}
	if (p.op)
		check_op(&p);
	p.op = NULL;
	for (int k = 0; k < P_REQUIRED; k++)
		if (!(p.pod_seen & BIT(k)))
			bad(&p, "no %s", pod_keys[k]);
	if (plan->join_net != (plan->netns != NULL))
		bad(&p, plan->join_net ? "net private needs netns" : "netns is given without net private");
}
