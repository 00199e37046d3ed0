#define _GNU_SOURCE
#include "caps.h"

#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util.h"

void caps_bound(uint64_t mask)
{
	for (int cap = 0; cap < 64; cap++) {
		if (mask & (UINT64_C(1) << cap))
			continue;
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == 0)
			continue;
		if (errno == EINVAL)
			return; /* past the kernel's last capability */
		char what[32];
		snprintf(what, sizeof what, "PR_CAPBSET_DROP %d", cap);
		die("prctl", what);
	}
}

void caps_limit(uint64_t mask)
{
	/* glibc has no wrapper, and libcap would be a dependency for two syscalls. */
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
	if (syscall(SYS_capget, &hdr, data) < 0)
		die("capget", "");
	for (int i = 0; i < _LINUX_CAPABILITY_U32S_3; i++) {
		uint32_t keep = (uint32_t)(mask >> (32 * i));
		data[i].effective &= keep;
		data[i].permitted &= keep;
		data[i].inheritable &= keep;
	}
	if (syscall(SYS_capset, &hdr, data) < 0)
		die("capset", "");
}
