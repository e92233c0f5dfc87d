/* SPDX-License-Identifier: MIT */
#pragma once

/* The `solocron exec-job` helper (see exec_job.c). Returns an exit status on failure; on
 * success it does not return. */
int exec_job_main(int argc, char **argv);
