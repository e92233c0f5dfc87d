/* SPDX-License-Identifier: MIT */
#pragma once

/* The one way a non-logging function hands out what went wrong: it returns a negative errno
 * and, through reterr_message, a sentence the caller logs ("user 'app' does not exist"). */

#include "macro.h"

/* Set *reterr_message to the formatted sentence (caller frees; NULL when out of memory) and
 * return r. */
int reterr_printf(char **reterr_message, int r, const char *fmt, ...) _printf_(3, 4);
