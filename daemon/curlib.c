/* SPDX-License-Identifier: MIT */
#include "curlib.h"
#include "dlib.h"
#include "macro.h"

CurlLib curlib;

int curlib_load(void) {
        static Dlib lib;
        static const DlibSym syms[] = {
                DLIB_SYM(curlib.global_init, "curl_global_init"),
                DLIB_SYM(curlib.global_cleanup, "curl_global_cleanup"),
                DLIB_SYM(curlib.easy_init, "curl_easy_init"),
                DLIB_SYM(curlib.easy_cleanup, "curl_easy_cleanup"),
                DLIB_SYM(curlib.easy_setopt, "curl_easy_setopt"),
                DLIB_SYM(curlib.easy_getinfo, "curl_easy_getinfo"),
                DLIB_SYM(curlib.easy_strerror, "curl_easy_strerror"),
                DLIB_SYM(curlib.multi_init, "curl_multi_init"),
                DLIB_SYM(curlib.multi_cleanup, "curl_multi_cleanup"),
                DLIB_SYM(curlib.multi_setopt, "curl_multi_setopt"),
                DLIB_SYM(curlib.multi_add_handle, "curl_multi_add_handle"),
                DLIB_SYM(curlib.multi_remove_handle, "curl_multi_remove_handle"),
                DLIB_SYM(curlib.multi_assign, "curl_multi_assign"),
                DLIB_SYM(curlib.multi_info_read, "curl_multi_info_read"),
                DLIB_SYM(curlib.multi_socket_action, "curl_multi_socket_action"),
                DLIB_SYM(curlib.slist_append, "curl_slist_append"),
                DLIB_SYM(curlib.slist_free_all, "curl_slist_free_all"),
        };

        return dlib_load(&lib, "libcurl.so.4", syms, ELEMENTSOF(syms));
}
