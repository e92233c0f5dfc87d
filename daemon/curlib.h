/* SPDX-License-Identifier: MIT */
#pragma once

/* libcurl, loaded with dlopen() when a fleet lease backend first needs it, like sdlib.h for
 * libsystemd: a daemon on the local lease never maps libcurl and the dozen libraries it pulls
 * in (TLS, HTTP/2, IDN, …; about 2 MiB of resident pages). Include this instead of
 * <curl/curl.h>: the curl_* calls below go through the loaded symbols. */

#define CURL_DISABLE_TYPECHECK 1        /* the checks are macros over the real functions */
#include <curl/curl.h>

typedef struct CurlLib {
        __typeof__(curl_global_init) *global_init;
        __typeof__(curl_global_cleanup) *global_cleanup;
        __typeof__(curl_easy_init) *easy_init;
        __typeof__(curl_easy_cleanup) *easy_cleanup;
        __typeof__(curl_easy_setopt) *easy_setopt;
        __typeof__(curl_easy_getinfo) *easy_getinfo;
        __typeof__(curl_easy_strerror) *easy_strerror;
        __typeof__(curl_multi_init) *multi_init;
        __typeof__(curl_multi_cleanup) *multi_cleanup;
        __typeof__(curl_multi_setopt) *multi_setopt;
        __typeof__(curl_multi_add_handle) *multi_add_handle;
        __typeof__(curl_multi_remove_handle) *multi_remove_handle;
        __typeof__(curl_multi_assign) *multi_assign;
        __typeof__(curl_multi_info_read) *multi_info_read;
        __typeof__(curl_multi_socket_action) *multi_socket_action;
        __typeof__(curl_slist_append) *slist_append;
        __typeof__(curl_slist_free_all) *slist_free_all;
} CurlLib;

extern CurlLib curlib;

/* Load libcurl once. 0, or -EOPNOTSUPP when it is not installed (or lacks a symbol). */
int curlib_load(void);

/* curl.h may define these three as macros over the functions: replace them. */
#undef curl_easy_setopt
#undef curl_easy_getinfo
#undef curl_multi_setopt
#define curl_global_init(...) curlib.global_init(__VA_ARGS__)
#define curl_global_cleanup(...) curlib.global_cleanup(__VA_ARGS__)
#define curl_easy_init(...) curlib.easy_init(__VA_ARGS__)
#define curl_easy_cleanup(...) curlib.easy_cleanup(__VA_ARGS__)
#define curl_easy_setopt(...) curlib.easy_setopt(__VA_ARGS__)
#define curl_easy_getinfo(...) curlib.easy_getinfo(__VA_ARGS__)
#define curl_easy_strerror(...) curlib.easy_strerror(__VA_ARGS__)
#define curl_multi_init(...) curlib.multi_init(__VA_ARGS__)
#define curl_multi_cleanup(...) curlib.multi_cleanup(__VA_ARGS__)
#define curl_multi_setopt(...) curlib.multi_setopt(__VA_ARGS__)
#define curl_multi_add_handle(...) curlib.multi_add_handle(__VA_ARGS__)
#define curl_multi_remove_handle(...) curlib.multi_remove_handle(__VA_ARGS__)
#define curl_multi_assign(...) curlib.multi_assign(__VA_ARGS__)
#define curl_multi_info_read(...) curlib.multi_info_read(__VA_ARGS__)
#define curl_multi_socket_action(...) curlib.multi_socket_action(__VA_ARGS__)
#define curl_slist_append(...) curlib.slist_append(__VA_ARGS__)
#define curl_slist_free_all(...) curlib.slist_free_all(__VA_ARGS__)
