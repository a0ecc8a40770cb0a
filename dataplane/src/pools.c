/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Packet-buffer pools, ready before a relay asks. Making a pool (reserving
 * and initialising thousands of mbufs, faulting in their memory) is most of
 * the time it takes to plug a port: tens of ms, during which the control
 * thread would answer nobody. So pools of removed relays are kept, and a
 * thread keeps SPARES standard pools ready on every NUMA socket relays have
 * asked for; the control thread only takes one. When memory runs short, the
 * ready pools are freed first and the maker waits until a pool comes back.
 *
 * DPDK's memory locks spin: a pool is made or freed by one thread at a time
 * (make_lock sleeps), and the maker runs at the control thread's priority,
 * or a control thread spinning on a lock the maker holds could starve it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_mempool.h>
#include <rte_thread.h>

#include "log.h"
#include "pools.h"
#include "relay.h"

#define POOL_CACHE 128
/* Standard pools kept ready per socket, for the next relays. */
#define SPARES 2
/* At most this many pools wait: a relay's two, for every relay, and the spares. */
#define READY_MAX (2 * MAX_RELAYS + 2 * SPARES)
/* NUMA sockets the maker serves: SOCKET_ID_ANY (virtual devices) and 0..SOCKETS-2. */
#define SOCKETS 8

static struct rte_mempool *ready[READY_MAX];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t make_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static bool wanted[SOCKETS];  /* sockets relays asked for */
static bool starved;          /* the last pool could not be made: wait for one to come back */
static bool stopping;
static unsigned int made;
static pthread_t maker;
static bool maker_started;

static int slot_of(int socket)
{
	return socket == SOCKET_ID_ANY ? 0 : socket >= 0 && socket < SOCKETS - 1 ? socket + 1 : -1;
}

/* Whether ready pool i is of this shape. Caller holds lock. */
static bool ready_as(int i, unsigned int n, uint16_t buf, int socket)
{
	return ready[i] != NULL && ready[i]->size == n && ready[i]->socket_id == socket &&
	       rte_pktmbuf_data_room_size(ready[i]) == buf;
}

/* The index of a ready pool of this shape, or -1. Caller holds lock. */
static int find_ready(unsigned int n, uint16_t buf, int socket)
{
	for (int i = 0; i < READY_MAX; i++)
		if (ready_as(i, n, buf, socket))
			return i;
	return -1;
}

/* Standard pools ready on this socket. Caller holds lock. */
static unsigned int count_ready(int socket)
{
	unsigned int c = 0;

	for (int i = 0; i < READY_MAX; i++)
		c += ready_as(i, POOL_MBUFS, POOL_BUF_SIZE, socket);
	return c;
}

/* Parks a pool; false if there is no room. Caller holds lock. */
static bool park(struct rte_mempool *mp)
{
	for (int i = 0; i < READY_MAX; i++) {
		if (ready[i] == NULL) {
			ready[i] = mp;
			return true;
		}
	}
	return false;
}

static struct rte_mempool *make(unsigned int n, uint16_t buf, int socket)
{
	char name[RTE_MEMPOOL_NAMESIZE];

	struct rte_mempool *mp;

	pthread_mutex_lock(&lock);
	snprintf(name, sizeof(name), "vio4wd_pool%u", made++);
	pthread_mutex_unlock(&lock);
	pthread_mutex_lock(&make_lock);
	mp = rte_pktmbuf_pool_create(name, n, POOL_CACHE, 0, buf, socket);
	pthread_mutex_unlock(&make_lock);
	return mp;
}

static void unmake(struct rte_mempool *mp)
{
	if (mp == NULL)
		return;
	pthread_mutex_lock(&make_lock);
	rte_mempool_free(mp);
	pthread_mutex_unlock(&make_lock);
}

static unsigned int free_ready(void)
{
	struct rte_mempool *gone[READY_MAX];
	unsigned int n = 0;

	pthread_mutex_lock(&lock);
	for (int i = 0; i < READY_MAX; i++) {
		if (ready[i] != NULL) {
			gone[n++] = ready[i];
			ready[i] = NULL;
		}
	}
	starved = true;
	pthread_mutex_unlock(&lock);
	for (unsigned int i = 0; i < n; i++)
		unmake(gone[i]);
	return n;
}

/* The socket that lacks spares, or SOCKETS if none does. Caller holds lock. */
static int socket_short(void)
{
	for (int s = 0; s < SOCKETS; s++) {
		int socket = s == 0 ? SOCKET_ID_ANY : s - 1;

		if (wanted[s] && count_ready(socket) < SPARES)
			return socket;
	}
	return SOCKETS;
}

static void *make_spares(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&lock);
	for (;;) {
		int socket = SOCKETS;
		struct rte_mempool *mp;

		while (!stopping && (starved || (socket = socket_short()) == SOCKETS))
			pthread_cond_wait(&wake, &lock);
		if (stopping)
			break;
		pthread_mutex_unlock(&lock);
		mp = make(POOL_MBUFS, POOL_BUF_SIZE, socket);
		pthread_mutex_lock(&lock);
		if (mp == NULL) {
			LOG(INFO, "no memory for a spare packet-buffer pool on socket %d: making them "
			    "again once a pool is freed", socket);
			starved = true;
		} else if (!park(mp)) {
			pthread_mutex_unlock(&lock);
			unmake(mp);
			pthread_mutex_lock(&lock);
			starved = true;
		}
	}
	pthread_mutex_unlock(&lock);
	return NULL;
}

int pools_init(void)
{
	int rc = rte_ctrl_thread_create(&maker, "vio4wd-pools", NULL, make_spares, NULL);

	if (rc != 0) {
		LOG(ERR, "cannot start the pool maker thread: %s", strerror(rc));
		return -rc;
	}
	maker_started = true;
	return 0;
}

void pools_stop(void)
{
	if (!maker_started)
		return;
	pthread_mutex_lock(&lock);
	stopping = true;
	pthread_cond_signal(&wake);
	pthread_mutex_unlock(&lock);
	pthread_join(maker, NULL);
	maker_started = false;
}

struct rte_mempool *pool_get(unsigned int n, uint16_t buf, int socket)
{
	struct rte_mempool *mp = NULL;
	int i, s = slot_of(socket);

	pthread_mutex_lock(&lock);
	i = find_ready(n, buf, socket);
	if (i >= 0) {
		mp = ready[i];
		ready[i] = NULL;
	}
	if (s >= 0 && n == POOL_MBUFS && buf == POOL_BUF_SIZE)
		wanted[s] = true;
	pthread_cond_signal(&wake);
	pthread_mutex_unlock(&lock);
	if (mp != NULL)
		return mp;
	mp = make(n, buf, socket);
	if (mp == NULL && rte_errno == ENOMEM && free_ready() > 0)
		mp = make(n, buf, socket);
	return mp;
}

void pool_put(struct rte_mempool *mp)
{
	if (mp == NULL)
		return;
	pthread_mutex_lock(&lock);
	if (rte_mempool_full(mp) && park(mp))
		mp = NULL;
	/* Memory or room came back: the maker may try again. */
	starved = false;
	pthread_cond_signal(&wake);
	pthread_mutex_unlock(&lock);
	unmake(mp);
}
