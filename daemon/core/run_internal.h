/* SPDX-License-Identifier: MIT */
#pragma once

/* Shared by the two halves of a run only: run.c (the run) and run_attempt.c (one attempt). */

#include "run.h"

/* run_attempt.c */
/* Start an attempt (phase RUN_STARTING or RUN_RUNNING from here). */
void run_attempt(Run *r);
/* run_terminate() of a run in RUN_STARTING or RUN_RUNNING. */
void run_attempt_terminate(Run *r, int sig, usec_t escalate_after);

/* run.c */
/* The run ran here and is over: the proof of run, the summary, the owner told, handles
 * closed. */
void run_finish(Run *r, const char *result);
/* "1.503s" */
void run_format_duration(int64_t usec, char buf[static 32]);
/* "0", "1", … or "SIGKILL": how the attempt ended. */
void run_format_status(const Run *r, char buf[static 24]);
/* Start t to call cb no earlier than u from now (a timeout or a backoff: all of it). */
void run_timer_at_least(uv_timer_t *t, uv_timer_cb cb, usec_t u);
