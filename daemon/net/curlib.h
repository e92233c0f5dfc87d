/* SPDX-License-Identifier: MIT */
#pragma once

/* libcurl, loaded with dlopen() when a fleet lease backend first needs it: a daemon on the
 * local lease never maps libcurl and the dozen libraries it pulls in (TLS, HTTP/2, IDN, …;
 * about 2 MiB of resident pages). Every call goes through a sym_ pointer with libcurl's own
 * prototype; nothing of libcurl's is defined or redefined here. curl_easy_setopt() and
 * friends take varargs, so options are set through the typed helpers below, which check
 * with libcurl's own classification (curl/typecheck-gcc.h) that an option takes that type,
 * at compile time, as libcurl's macros do for direct calls. */

#include <curl/curl.h>

#ifndef curlcheck_long_option
/* Clang calls itself GCC 4.2, older than curl.h's test for the checks; it has the builtins
 * they use, so take them anyway (curl.h's plain call macros make way for them). */
#undef curl_easy_setopt
#undef curl_easy_getinfo
#undef curl_share_setopt
#undef curl_multi_setopt
#include <curl/typecheck-gcc.h>
#endif

extern __typeof__(curl_global_init) *sym_curl_global_init;
extern __typeof__(curl_global_cleanup) *sym_curl_global_cleanup;
extern __typeof__(curl_easy_init) *sym_curl_easy_init;
extern __typeof__(curl_easy_cleanup) *sym_curl_easy_cleanup;
extern __typeof__(curl_easy_setopt) *sym_curl_easy_setopt;
extern __typeof__(curl_easy_getinfo) *sym_curl_easy_getinfo;
extern __typeof__(curl_easy_strerror) *sym_curl_easy_strerror;
extern __typeof__(curl_multi_init) *sym_curl_multi_init;
extern __typeof__(curl_multi_cleanup) *sym_curl_multi_cleanup;
extern __typeof__(curl_multi_setopt) *sym_curl_multi_setopt;
extern __typeof__(curl_multi_add_handle) *sym_curl_multi_add_handle;
extern __typeof__(curl_multi_remove_handle) *sym_curl_multi_remove_handle;
extern __typeof__(curl_multi_assign) *sym_curl_multi_assign;
extern __typeof__(curl_multi_info_read) *sym_curl_multi_info_read;
extern __typeof__(curl_multi_socket_action) *sym_curl_multi_socket_action;
extern __typeof__(curl_slist_append) *sym_curl_slist_append;
extern __typeof__(curl_slist_free_all) *sym_curl_slist_free_all;

/* Load libcurl once. 0, or -EOPNOTSUPP when it is not installed (or lacks a symbol); the
 * sym_ pointers may be used only after a 0. */
int curlib_load(void);

/* Typed option setters: each refuses to compile with an option of another type. */
/* (The classification names deprecated options too: as libcurl's own macros do, the check
 * is made with deprecation warnings off.) */
#define CURLIB_CHECKED(check, what, call)                                                \
        __extension__({                                                                  \
                CURL_IGNORE_DEPRECATION(_Static_assert(check, what);)                    \
                call;                                                                    \
        })
#define curlib_setopt_long(h, opt, v)                                                    \
        CURLIB_CHECKED(curlcheck_long_option(opt), #opt " does not take a long",         \
                       sym_curl_easy_setopt((h), (opt), (long) (v)))
#define curlib_setopt_off_t(h, opt, v)                                                   \
        CURLIB_CHECKED(curlcheck_off_t_option(opt), #opt " does not take a curl_off_t",  \
                       sym_curl_easy_setopt((h), (opt), (curl_off_t) (v)))
#define curlib_setopt_string(h, opt, v)                                                  \
        CURLIB_CHECKED(curlcheck_string_option(opt), #opt " does not take a string",     \
                       curlib_easy_setopt_string((h), (opt), (v)))
#define curlib_setopt_postfields(h, opt, v)                                              \
        CURLIB_CHECKED(curlcheck_postfields_option(opt), #opt " does not take POST data", \
                       curlib_easy_setopt_data((h), (opt), (v)))
#define curlib_setopt_cb_data(h, opt, v)                                                 \
        CURLIB_CHECKED(curlcheck_cb_data_option(opt), #opt " does not take callback data", \
                       curlib_easy_setopt_data((h), (opt), (v)))
#define curlib_setopt_write_cb(h, opt, v)                                                \
        CURLIB_CHECKED(curlcheck_write_cb_option(opt), #opt " does not take a write callback", \
                       curlib_easy_setopt_write_cb((h), (opt), (v)))
#define curlib_setopt_slist(h, opt, v)                                                   \
        CURLIB_CHECKED(curlcheck_slist_option(opt), #opt " does not take a curl_slist",  \
                       curlib_easy_setopt_slist((h), (opt), (v)))
#define curlib_getinfo_long(h, info, ret)                                                \
        CURLIB_CHECKED(curlcheck_long_info(info), #info " does not give a long",         \
                       curlib_easy_getinfo_long((h), (info), (ret)))
/* The multi options: a long, data for a callback, or one of two callbacks. */
#define curlib_multi_setopt_long(m, opt, v)                                              \
        CURLIB_CHECKED((opt) < CURLOPTTYPE_OBJECTPOINT, #opt " does not take a long",    \
                       sym_curl_multi_setopt((m), (opt), (long) (v)))
#define curlib_multi_setopt_data(m, opt, v)                                              \
        CURLIB_CHECKED((opt) == CURLMOPT_SOCKETDATA || (opt) == CURLMOPT_TIMERDATA,      \
                       #opt " does not take callback data",                              \
                       curlib_multi_setopt_data_((m), (opt), (v)))

/* The values' types, checked by the compiler through these prototypes. */
static inline CURLcode curlib_easy_setopt_string(CURL *h, CURLoption opt, const char *v) {
        return sym_curl_easy_setopt(h, opt, v);
}
static inline CURLcode curlib_easy_setopt_data(CURL *h, CURLoption opt, const void *v) {
        return sym_curl_easy_setopt(h, opt, v);
}
static inline CURLcode curlib_easy_setopt_write_cb(CURL *h, CURLoption opt, curl_write_callback v) {
        return sym_curl_easy_setopt(h, opt, v);
}
static inline CURLcode curlib_easy_setopt_slist(CURL *h, CURLoption opt, struct curl_slist *v) {
        return sym_curl_easy_setopt(h, opt, v);
}
static inline CURLcode curlib_easy_getinfo_long(CURL *h, CURLINFO info, long *ret) {
        return sym_curl_easy_getinfo(h, info, ret);
}
static inline CURLMcode curlib_multi_setopt_data_(CURLM *m, CURLMoption opt, void *v) {
        return sym_curl_multi_setopt(m, opt, v);
}
static inline CURLcode curlib_setopt_private(CURL *h, void *v) {
        return sym_curl_easy_setopt(h, CURLOPT_PRIVATE, v);
}
static inline CURLcode curlib_getinfo_private(CURL *h, void **ret) {
        return sym_curl_easy_getinfo(h, CURLINFO_PRIVATE, ret);
}
static inline CURLcode curlib_setopt_errorbuffer(CURL *h, char buf[static CURL_ERROR_SIZE]) {
        return sym_curl_easy_setopt(h, CURLOPT_ERRORBUFFER, buf);
}
static inline CURLMcode curlib_multi_setopt_socket_cb(CURLM *m, curl_socket_callback v) {
        return sym_curl_multi_setopt(m, CURLMOPT_SOCKETFUNCTION, v);
}
static inline CURLMcode curlib_multi_setopt_timer_cb(CURLM *m, curl_multi_timer_callback v) {
        return sym_curl_multi_setopt(m, CURLMOPT_TIMERFUNCTION, v);
}
