/* SPDX-License-Identifier: MIT */
#pragma once

/* libhttp-parser, loaded with dlopen() when the API starts listening: a daemon without an
 * api: section never maps it (bench/: 36 KiB of the idle resident set). Every call goes
 * through a sym_ pointer with the library's own prototype. */

#include <http_parser.h>

extern __typeof__(http_parser_init) *sym_http_parser_init;
extern __typeof__(http_parser_execute) *sym_http_parser_execute;
extern __typeof__(http_parser_pause) *sym_http_parser_pause;
extern __typeof__(http_should_keep_alive) *sym_http_should_keep_alive;
extern __typeof__(http_method_str) *sym_http_method_str;

#define HTTPLIB_SONAME "libhttp_parser.so.2.9"

/* Load the library once: 0, or -EOPNOTSUPP when it is not installed (or lacks a symbol); the
 * sym_ pointers, and so api_parse_*(), may be used only after a 0. */
int httplib_load(void);
