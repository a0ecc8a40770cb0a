/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VIO4WD_SOCKPATH_H
#define VIO4WD_SOCKPATH_H

#include <stddef.h>
#include <sys/un.h>

#define SOCKPATH_DIRS_MAX 16
/* What a sockaddr_un holds, its terminating NUL included. */
#define SOCKPATH_MAX sizeof(((struct sockaddr_un *)0)->sun_path)

/* A directory port control may put vhost-user sockets in (--vhost-dir). */
int sockpath_allow(const char *dir);

/*
 * Checks a vhost-user socket path and pins its directory: on success *dirfd
 * is an O_PATH descriptor of the (allowed) directory, held for as long as
 * the socket is used, and pinned is "/proc/self/fd/<dirfd>/<name>", the name
 * to bind, connect and unlink by, which resolves through that descriptor and
 * so cannot be redirected by a symlink or rename swapped in after the check.
 * On failure, err names the rule broken and nothing is left open.
 */
int sockpath_open(const char *path, int *dirfd, char *pinned, size_t pinned_len,
		  char *err, size_t errlen);

/* Closes a directory sockpath_open pinned (its name for messages goes too). */
void sockpath_close(int dirfd);

/*
 * For messages: when pinned starts "/proc/self/fd/N/" for a directory
 * pinned here, dir is that directory as the user named it and *consumed
 * the length of "/proc/self/fd/N" (0); otherwise -1.
 */
int sockpath_shown_dir(const char *pinned, char *dir, size_t len, size_t *consumed);

#endif
