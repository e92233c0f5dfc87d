/* SPDX-License-Identifier: MIT */
#include "dlib.h"
#include "httplib.h"
#include "macro.h"

__typeof__(http_parser_init) *sym_http_parser_init;
__typeof__(http_parser_execute) *sym_http_parser_execute;
__typeof__(http_parser_pause) *sym_http_parser_pause;
__typeof__(http_should_keep_alive) *sym_http_should_keep_alive;
__typeof__(http_method_str) *sym_http_method_str;

DLIB_ELF_NOTE(http_parser, "the API server", "recommended", HTTPLIB_SONAME);

int httplib_load(void) {
        static Dlib lib;
        static const DlibSym syms[] = {
                DLIB_SYM(sym_http_parser_init, "http_parser_init"),
                DLIB_SYM(sym_http_parser_execute, "http_parser_execute"),
                DLIB_SYM(sym_http_parser_pause, "http_parser_pause"),
                DLIB_SYM(sym_http_should_keep_alive, "http_should_keep_alive"),
                DLIB_SYM(sym_http_method_str, "http_method_str"),
        };

        return dlib_load(&lib, HTTPLIB_SONAME, syms, ELEMENTSOF(syms));
}
