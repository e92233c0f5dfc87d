/* SPDX-License-Identifier: MIT */
#pragma once

/* The S3 lease backend (see lease_s3.c). */

#include <uv.h>

#include "lease.h"

/* S3 conditional writes: cfg's bucket, endpoint, region, path_style, ca_file; credentials
 * from the AWS chain (aws/s3_creds.h). Asynchronous: every claim is PENDING; claims wait for
 * a start-up probe that refuses endpoints ignoring conditional writes. close() needs the loop
 * to run until done. cfg is copied. */
int lease_s3_new(uv_loop_t *loop, const LeaseConfig *cfg, const char *hostname, LeaseStore **ret,
                 char **reterr_message);

/* The variables of the daemon's environment this backend reads secrets from (the AWS
 * credential chain's); NULL-terminated. */
extern const char *const lease_s3_secret_env[];
