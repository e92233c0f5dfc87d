/* SPDX-License-Identifier: MIT */
#include "curlib.h"
#include "dlib.h"
#include "macro.h"

__typeof__(curl_global_init) *sym_curl_global_init;
__typeof__(curl_global_cleanup) *sym_curl_global_cleanup;
__typeof__(curl_easy_init) *sym_curl_easy_init;
__typeof__(curl_easy_cleanup) *sym_curl_easy_cleanup;
__typeof__(curl_easy_setopt) *sym_curl_easy_setopt;
__typeof__(curl_easy_getinfo) *sym_curl_easy_getinfo;
__typeof__(curl_easy_strerror) *sym_curl_easy_strerror;
__typeof__(curl_multi_init) *sym_curl_multi_init;
__typeof__(curl_multi_cleanup) *sym_curl_multi_cleanup;
__typeof__(curl_multi_setopt) *sym_curl_multi_setopt;
__typeof__(curl_multi_add_handle) *sym_curl_multi_add_handle;
__typeof__(curl_multi_remove_handle) *sym_curl_multi_remove_handle;
__typeof__(curl_multi_assign) *sym_curl_multi_assign;
__typeof__(curl_multi_info_read) *sym_curl_multi_info_read;
__typeof__(curl_multi_socket_action) *sym_curl_multi_socket_action;
__typeof__(curl_slist_append) *sym_curl_slist_append;
__typeof__(curl_slist_free_all) *sym_curl_slist_free_all;

DLIB_ELF_NOTE(curl, "fleet leases (etcd, S3)", "recommended", "libcurl.so.4");

int curlib_load(void) {
        static Dlib lib;
        static const DlibSym syms[] = {
                DLIB_SYM(sym_curl_global_init, "curl_global_init"),
                DLIB_SYM(sym_curl_global_cleanup, "curl_global_cleanup"),
                DLIB_SYM(sym_curl_easy_init, "curl_easy_init"),
                DLIB_SYM(sym_curl_easy_cleanup, "curl_easy_cleanup"),
                DLIB_SYM(sym_curl_easy_setopt, "curl_easy_setopt"),
                DLIB_SYM(sym_curl_easy_getinfo, "curl_easy_getinfo"),
                DLIB_SYM(sym_curl_easy_strerror, "curl_easy_strerror"),
                DLIB_SYM(sym_curl_multi_init, "curl_multi_init"),
                DLIB_SYM(sym_curl_multi_cleanup, "curl_multi_cleanup"),
                DLIB_SYM(sym_curl_multi_setopt, "curl_multi_setopt"),
                DLIB_SYM(sym_curl_multi_add_handle, "curl_multi_add_handle"),
                DLIB_SYM(sym_curl_multi_remove_handle, "curl_multi_remove_handle"),
                DLIB_SYM(sym_curl_multi_assign, "curl_multi_assign"),
                DLIB_SYM(sym_curl_multi_info_read, "curl_multi_info_read"),
                DLIB_SYM(sym_curl_multi_socket_action, "curl_multi_socket_action"),
                DLIB_SYM(sym_curl_slist_append, "curl_slist_append"),
                DLIB_SYM(sym_curl_slist_free_all, "curl_slist_free_all"),
        };

        return dlib_load(&lib, "libcurl.so.4", syms, ELEMENTSOF(syms));
}
