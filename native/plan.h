/* stage0-plan.conf: the hand-over stage0 would have done itself, for `takeover`
 * (src/stage0/plan-conf.ts writes it; the format is described in plan.c). */
#ifndef STAGE1_PLAN_H
#define STAGE1_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

enum op_kind { OP_MKDIR, OP_MOUNT, OP_BIND, OP_BIND_DEVICE, OP_SYMLINK, OP_REMOUNT_RO };

/* A path inside a root: `root` is a host path stage0 controls, `path` is resolved in it. */
struct in_root {
	const char *root;
	const char *path;
};

/* One operation of the mount plan (src/stage0/mount-plan.ts, MountOp). */
struct op {
	enum op_kind kind;
	struct in_root target;
	const char *source;       /* mount: the filesystem's source; bind, bind-device: a host path */
	struct in_root source_in; /* bind: its source inside a root, when `source` is NULL */
	const char *fstype;       /* mount */
	const char *data;         /* mount: its options, may be empty */
	unsigned long flags;      /* mount, bind, remount-ro: MS_NOSUID, MS_NODEV, MS_NOEXEC */
	bool recursive;           /* bind: MS_REC */
	bool read_only;           /* bind: remounted read-only at once */
	bool has_owner;           /* mkdir: then mode, uid and gid are set on the directory */
	mode_t mode;
	uid_t uid;
	gid_t gid;
	const char *link_to; /* symlink */
};

struct plan {
	const char *hostname;
	bool new_net;            /* net none: a network namespace of its own */
	bool join_net;           /* net private: join the namespace at netns */
	const char *netns;       /* net private: the network namespace file stage0 made (POD/netns) */
	int lock_fd;             /* the pod lock, kept open across the exec */
	const char *stage1_root; /* the host path to pivot into */
	const char *entrypoint;  /* the run entrypoint in the stage1 root */
	struct op *ops;
	size_t nops;
};

/* Reads and checks PATH; any problem exits 254 with one line naming it. The strings
 * point into one buffer that lives as long as the process. */
void plan_read(const char *path, struct plan *plan);

#endif
