/* SPDX-License-Identifier: MIT */
#include <dlfcn.h>
#include <errno.h>
#include <stdbool.h>

#include "curlib.h"

CurlLib curlib;

int curlib_load(void) {
        static bool tried;
        static int result = -EOPNOTSUPP;
        void *dl;

        if (tried)
                return result;
        tried = true;
        dl = dlopen("libcurl.so.4", RTLD_NOW | RTLD_NODELETE);
        if (!dl)
                return result;
#define LOAD(field, name) \
        if (!(*(void **) &curlib.field = dlsym(dl, name))) \
                return result
        LOAD(global_init, "curl_global_init");
        LOAD(global_cleanup, "curl_global_cleanup");
        LOAD(easy_init, "curl_easy_init");
        LOAD(easy_cleanup, "curl_easy_cleanup");
        LOAD(easy_setopt, "curl_easy_setopt");
        LOAD(easy_getinfo, "curl_easy_getinfo");
        LOAD(easy_strerror, "curl_easy_strerror");
        LOAD(multi_init, "curl_multi_init");
        LOAD(multi_cleanup, "curl_multi_cleanup");
        LOAD(multi_setopt, "curl_multi_setopt");
        LOAD(multi_add_handle, "curl_multi_add_handle");
        LOAD(multi_remove_handle, "curl_multi_remove_handle");
        LOAD(multi_assign, "curl_multi_assign");
        LOAD(multi_info_read, "curl_multi_info_read");
        LOAD(multi_socket_action, "curl_multi_socket_action");
        LOAD(slist_append, "curl_slist_append");
        LOAD(slist_free_all, "curl_slist_free_all");
#undef LOAD
        result = 0;
        return result;
}
