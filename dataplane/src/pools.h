/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VIO4WD_POOLS_H
#define VIO4WD_POOLS_H

#include <stdint.h>

#include <rte_mbuf.h>

/*
 * A relay's two packet-buffer pools (VF side and VM side) are of this
 * standard shape unless the VF needs bigger buffers or is a bond.
 */
#define POOL_MBUFS 4095
#define POOL_BUF_SIZE RTE_MBUF_DEFAULT_BUF_SIZE

/* Starts the thread that keeps standard pools ready. */
int pools_init(void);
void pools_stop(void);

/* A pool of n mbufs of buf bytes on this NUMA socket: a ready one, or a new one. */
struct rte_mempool *pool_get(unsigned int n, uint16_t buf, int socket);
/* Done with a pool: kept for the next relay if all its mbufs are back, else freed. */
void pool_put(struct rte_mempool *mp);

#endif
