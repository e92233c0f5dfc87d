/* SPDX-License-Identifier: MIT */
#pragma once

/* UTF-8 validation, for what we pass on from jobs' output (JSON log lines, webhooks). Pure. */

#include <stddef.h>

/* Length (1..4) of the valid UTF-8 sequence at s[0..n), n > 0; 0 when it is not one (a
 * stray continuation byte, an overlong form, a surrogate, beyond U+10FFFF, cut short). NUL is
 * a valid sequence of 1. */
size_t utf8_valid_len(const unsigned char *s, size_t n);
