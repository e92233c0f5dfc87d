/* SPDX-License-Identifier: MIT */
#include <errno.h>

#include "lease_etcd.h"
#include "lease_pg.h"
#include "lease_redis.h"
#include "lease_s3.h"
#include "lease_store.h"

int lease_store_new(uv_loop_t *loop, const LeaseConfig *cfg, const char *state_dir,
                    const char *hostname, LeaseStore **ret, char **reterr_message) {
        switch (cfg->backend) {
        case LEASE_BACKEND_LOCAL:
                return lease_local_new(loop, state_dir, cfg->election_timeout, cfg->history, ret,
                                       reterr_message);
        case LEASE_BACKEND_S3:
                return lease_s3_new(loop, cfg, hostname, ret, reterr_message);
        case LEASE_BACKEND_ETCD:
                return lease_etcd_new(loop, cfg, hostname, ret, reterr_message);
        case LEASE_BACKEND_REDIS:
                return lease_redis_new(loop, cfg, hostname, ret, reterr_message);
        case LEASE_BACKEND_POSTGRES:
                return lease_pg_new(loop, cfg, hostname, ret, reterr_message);
        default:
                return -EINVAL;
        }
}

const char *const *lease_store_secret_env(const LeaseConfig *cfg) {
        static const char *const none[] = { NULL };
        /* libpq reads a password from the environment: the daemon's, not the jobs'. */
        static const char *const postgres[] = { "PGPASSWORD", NULL };

        return cfg->backend == LEASE_BACKEND_S3 ? lease_s3_secret_env :
               cfg->backend == LEASE_BACKEND_POSTGRES ? postgres : none;
}
