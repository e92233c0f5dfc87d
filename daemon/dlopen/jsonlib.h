/* SPDX-License-Identifier: MIT */
#pragma once

/* jansson is loaded the first time one of its functions is called (jsonlib.c). Callers that
 * must tell "the library is missing" from a parse error or a failed allocation ask first:
 * 0 once it is loaded, -ELIBACC when it cannot be (said once on standard error). */
int jsonlib_load(void);
