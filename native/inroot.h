/* Paths inside a root (an image's rootfs, the stage1 root), resolved and created
 * without leaving it, as src/stage0/secure-path.ts does for stage0. */
#ifndef STAGE1_INROOT_H
#define STAGE1_INROOT_H

#include <sys/types.h>

enum inroot_create {
	INROOT_EXISTING, /* resolve only: a missing component is ENOENT */
	INROOT_DIR,      /* mkdir -p */
	INROOT_FILE,     /* parents as directories, then an empty file unless something is there */
};

/* An O_PATH fd of PATH inside the directory ROOTFD, every symlink on the way resolved
 * as if ROOTFD were `/` (an absolute target starts again at it, `..` stops at it, at
 * most 40 links): what an image's symlinks point at stays inside the image. Missing
 * components are made as CREATE says, with MODE. -1 with errno set on failure
 * (ENOTDIR or EISDIR when what is there is not of the kind asked for). */
int inroot_open(int rootfd, const char *path, enum inroot_create create, mode_t mode);

#endif
