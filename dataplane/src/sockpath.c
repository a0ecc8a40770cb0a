/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Where port control may put (server mode) or find (client mode) vhost-user
 * sockets. The dataplane runs as root and binds, chowns and unlinks these
 * paths: a client that may plug ports must not be able to name any other
 * place on the host. The supervisor checks the same rules first for a
 * friendlier refusal; this is the check that counts, done where the socket
 * is made.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sockpath.h"

static char allowed[SOCKPATH_DIRS_MAX][SOCKPATH_MAX];
static unsigned int n_allowed;

/*
 * The directory each pinned descriptor stands for, as the user named it:
 * DPDK's own messages name a socket by what it was registered as
 * (/proc/self/fd/N/NAME), which says nothing to an operator. Read by the
 * log writer in any thread; a leaf lock (nothing logs under it).
 */
#define SHOWN_MAX 128
#define SHOWN_DIR_MAX 256
static struct {
	int fd;
	char dir[SHOWN_DIR_MAX];
} shown[SHOWN_MAX];
static unsigned int n_shown;
static pthread_mutex_t shown_lock = PTHREAD_MUTEX_INITIALIZER;

static void shown_set(int fd, const char *dir)
{
	pthread_mutex_lock(&shown_lock);
	for (unsigned int i = 0; i < n_shown; i++)
		if (shown[i].fd == fd || shown[i].fd < 0) {
			shown[i].fd = fd;
			snprintf(shown[i].dir, sizeof(shown[i].dir), "%s", dir);
			goto out;
		}
	if (n_shown < SHOWN_MAX) {
		shown[n_shown].fd = fd;
		snprintf(shown[n_shown].dir, sizeof(shown[n_shown].dir), "%s", dir);
		n_shown++;
	}
out:
	pthread_mutex_unlock(&shown_lock);
}

void sockpath_close(int dirfd)
{
	if (dirfd < 0)
		return;
	pthread_mutex_lock(&shown_lock);
	for (unsigned int i = 0; i < n_shown; i++)
		if (shown[i].fd == dirfd)
			shown[i].fd = -1;
	pthread_mutex_unlock(&shown_lock);
	close(dirfd);
}

int sockpath_shown_dir(const char *pinned, char *dir, size_t len, size_t *consumed)
{
	static const char prefix[] = "/proc/self/fd/";
	char *end;
	long fd;
	int found = -1;

	if (strncmp(pinned, prefix, sizeof(prefix) - 1) != 0)
		return -1;
	fd = strtol(pinned + sizeof(prefix) - 1, &end, 10);
	if (end == pinned + sizeof(prefix) - 1 || *end != '/' || fd < 0)
		return -1;
	pthread_mutex_lock(&shown_lock);
	for (unsigned int i = 0; i < n_shown; i++)
		if (shown[i].fd == fd) {
			snprintf(dir, len, "%s", shown[i].dir);
			found = 0;
			break;
		}
	pthread_mutex_unlock(&shown_lock);
	*consumed = (size_t)(end - pinned);
	return found;
}

int sockpath_allow(const char *dir)
{
	if (dir[0] != '/' || strlen(dir) >= SOCKPATH_MAX || n_allowed == SOCKPATH_DIRS_MAX)
		return -EINVAL;
	snprintf(allowed[n_allowed++], SOCKPATH_MAX, "%s", dir);
	return 0;
}

static void allowed_list(char *out, size_t len)
{
	size_t used = 0;

	out[0] = '\0';
	for (unsigned int i = 0; i < n_allowed && used < len; i++)
		used += (size_t)snprintf(out + used, len - used, "%s%s", i ? ", " : "", allowed[i]);
	if (n_allowed == 0)
		snprintf(out, len, "none");
}

/* The lexical rules. Returns the rule broken, or NULL. */
static const char *lexical_problem(const char *path)
{
	const char *c, *comp;

	if (path[0] != '/')
		return "is not absolute";
	if (strlen(path) >= SOCKPATH_MAX)
		return "does not fit a unix socket address (107 bytes at most)";
	for (c = path; *c != '\0'; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			return "holds a control character";
	for (comp = path + 1;; comp = c + 1) {
		size_t n;

		c = strchr(comp, '/');
		n = c ? (size_t)(c - comp) : strlen(comp);
		if (n == 0)
			return c ? "has an empty component (//)" : "ends with /";
		if ((n == 1 && comp[0] == '.') || (n == 2 && comp[0] == '.' && comp[1] == '.'))
			return "has a . or .. component";
		if (c == NULL)
			return NULL;
	}
}

int sockpath_open(const char *path, int *dirfd, char *pinned, size_t pinned_len,
		  char *err, size_t errlen)
{
	const char *rule = lexical_problem(path);
	char dir[SOCKPATH_MAX], list[SOCKPATH_DIRS_MAX * (SOCKPATH_MAX + 2)], where[64], real[4096];
	const char *name;
	struct stat st, ast;
	ssize_t n;
	int fd, rc;

	if (rule != NULL) {
		/* A path with control characters stays out of the message (it may reach a terminal). */
		if (strcmp(rule, "holds a control character") == 0)
			snprintf(err, errlen, "vhost-user socket path %s", rule);
		else
			snprintf(err, errlen, "vhost-user socket path %s %s", path, rule);
		return -EINVAL;
	}
	name = strrchr(path, '/') + 1;
	snprintf(dir, sizeof(dir), "%.*s", (int)(name - path > 1 ? name - path - 1 : 1), path);
	/*
	 * The directory is opened once, symlinks followed; what is checked
	 * below is what was opened, and the socket is then reached through
	 * this descriptor only. A symlink or rename swapped into the path after
	 * this point changes nothing.
	 */
	fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "vhost-user socket %s: its directory %s: %s", path, dir, strerror(-rc));
		return rc;
	}
	if (fstat(fd, &st) != 0) {
		rc = -errno;
		goto fail_errno;
	}
	for (unsigned int i = 0; i < n_allowed; i++)
		if (stat(allowed[i], &ast) == 0 && ast.st_dev == st.st_dev && ast.st_ino == st.st_ino)
			goto allowed_dir;
	snprintf(where, sizeof(where), "/proc/self/fd/%d", fd);
	n = readlink(where, real, sizeof(real) - 1);
	real[n > 0 ? n : 0] = '\0';
	allowed_list(list, sizeof(list));
	snprintf(err, errlen, "vhost-user socket %s: its directory (%s) is not one of the allowed "
		 "directories (VIO4WD_VHOST_SOCKET_DIRS, VIRTIOFWD_SOCKET_DIR): %s", path, real, list);
	close(fd);
	return -EACCES;

allowed_dir:
	/*
	 * bind() never follows a symlink; connect() does: a client-mode path
	 * must not be one. (Whoever may write in an allowed directory could
	 * still swap one in later: that is QEMU's user, trusted with its own
	 * sockets there.)
	 */
	if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) {
		snprintf(err, errlen, "vhost-user socket %s is a symbolic link", path);
		close(fd);
		return -ELOOP;
	}
	if ((size_t)snprintf(pinned, pinned_len, "/proc/self/fd/%d/%s", fd, name) >= pinned_len ||
	    strlen(pinned) >= SOCKPATH_MAX) {
		snprintf(err, errlen, "vhost-user socket name %s is too long (%zu bytes at most)", name,
			 SOCKPATH_MAX - 1 - (size_t)snprintf(where, sizeof(where), "/proc/self/fd/%d/", fd));
		close(fd);
		return -ENAMETOOLONG;
	}
	*dirfd = fd;
	shown_set(fd, dir);
	return 0;

fail_errno:
	snprintf(err, errlen, "vhost-user socket %s: %s", path, strerror(-rc));
	close(fd);
	return rc;
}
