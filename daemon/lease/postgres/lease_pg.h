/* SPDX-License-Identifier: MIT */
#pragma once

/* The PostgreSQL lease backend (see lease_pg.c). */

#include <uv.h>

#include "lease.h"

/* PostgreSQL through libpq (loaded at run time): cfg's dsn (or the one in dsn_file), in
 * libpq's own syntax; hostname names this replica in the records. Asynchronous: every claim
 * is PENDING. close() lets final writes finish (each within election_timeout) and ends the
 * leases of the rest. cfg is copied. */
int lease_pg_new(uv_loop_t *loop, const LeaseConfig *cfg, const char *hostname,
                 LeaseStore **ret, char **reterr_message);
