/* SPDX-License-Identifier: MIT */
#pragma once

/* The tests' hooks into the daemon (SOLOCRON_TEST_* variables: another clock, other
 * credential endpoints) exist only in test builds (meson -Dtest_hooks=true, as .ci/run
 * builds, and the unit tests that compile daemon sources): a release binary never reads
 * them. */

#include <stdlib.h>

#ifdef SOLOCRON_TEST_HOOKS
#define test_hook_getenv(name) getenv(name)
#else
#define test_hook_getenv(name) ((void) (name), (const char *) NULL)
#endif
