/* SPDX-License-Identifier: MIT */
#pragma once

/* The etcd lease backend (see lease_etcd.c). */

#include <uv.h>

#include "lease.h"

/* etcd v3 through its HTTP/JSON gateway: cfg's endpoints (failover in order), TLS files and
 * credentials; hostname names this replica in the records. Asynchronous: every claim is
 * PENDING. close() lets final writes finish (each within election_timeout) and revokes the
 * rest; no claim or watch may be used after it. cfg is copied. */
int lease_etcd_new(uv_loop_t *loop, const LeaseConfig *cfg, const char *hostname, LeaseStore **ret,
                   char **reterr_message);
