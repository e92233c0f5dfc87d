/* SPDX-License-Identifier: MIT */
#pragma once

/* The one place that knows every lease backend: the core asks for "the store of this lease:
 * section" and never switches on the backend itself. */

#include <uv.h>

#include "lease.h"

/* The store for cfg: the local lease in state_dir/leases, or an etcd, S3 or Redis one (hostname
 * names this replica in their records). Negative errno and *reterr_message (caller frees)
 * when it cannot be made. */
int lease_store_new(uv_loop_t *loop, const LeaseConfig *cfg, const char *state_dir,
                    const char *hostname, LeaseStore **ret, char **reterr_message);

/* The variables of the daemon's environment from which cfg's backend reads secrets, besides
 * those the section expands itself (LeaseConfig.env_used); NULL-terminated, static. */
const char *const *lease_store_secret_env(const LeaseConfig *cfg);
