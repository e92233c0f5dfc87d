/* SPDX-License-Identifier: MIT */
#pragma once

/* The Redis lease backend (see lease_redis.c). */

#include <uv.h>

#include "lease.h"

/* Redis through libhiredis (loaded at run time): cfg's endpoints (redis://HOST:PORT/DB,
 * failover in order), username and password; hostname names this replica in the records.
 * Asynchronous: every claim is PENDING. close() lets final writes finish (each within
 * election_timeout) and deletes the leases of the rest; no claim or watch may be used after
 * it. cfg is copied. */
int lease_redis_new(uv_loop_t *loop, const LeaseConfig *cfg, const char *hostname,
                    LeaseStore **ret, char **reterr_message);
