/* SPDX-License-Identifier: MIT */
#pragma once

/* The daemon's small persistent state: the last completed firing of every job, for catch-up
 * after downtime. One JSON file in the state directory, replaced atomically (temporary
 * file, fsync, rename, fsync of the directory). */

#include <stdbool.h>
#include <stdint.h>

typedef struct State State;

/* Open (or start empty) the state in dir, creating dir if needed. A corrupt file is renamed
 * aside to state.json.corrupt and reported through *reterr_message (caller frees), and an
 * empty state is used: losing catch-up data must not stop the daemon. */
int state_open(const char *dir, State **ret, char **reterr_message);
State *state_free(State *s);
static inline void state_freep(State **s) {
        state_free(*s);
}

/* Scheduled instant of job's last completed firing; false when unknown. */
bool state_get_last(const State *s, const char *job, int64_t *ret);
int state_set_last(State *s, const char *job, int64_t scheduled);
/* Write the file if anything changed since the last save. */
int state_save(State *s);
bool state_dirty(const State *s);
const char *state_path(const State *s);
