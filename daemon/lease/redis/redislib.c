/* SPDX-License-Identifier: MIT */
#include "dlib.h"
#include "macro.h"
#include "redislib.h"

__typeof__(redisAsyncConnect) *sym_redisAsyncConnect;
__typeof__(redisAsyncSetConnectCallback) *sym_redisAsyncSetConnectCallback;
__typeof__(redisAsyncFree) *sym_redisAsyncFree;
__typeof__(redisAsyncHandleRead) *sym_redisAsyncHandleRead;
__typeof__(redisAsyncHandleWrite) *sym_redisAsyncHandleWrite;
__typeof__(redisAsyncCommandArgv) *sym_redisAsyncCommandArgv;

DLIB_ELF_NOTE(hiredis, "fleet leases (Redis)", "suggested", "libhiredis.so.0.14");

int redislib_load(void) {
        static Dlib lib;
        static const DlibSym syms[] = {
                DLIB_SYM(sym_redisAsyncConnect, "redisAsyncConnect"),
                DLIB_SYM(sym_redisAsyncSetConnectCallback, "redisAsyncSetConnectCallback"),
                DLIB_SYM(sym_redisAsyncFree, "redisAsyncFree"),
                DLIB_SYM(sym_redisAsyncHandleRead, "redisAsyncHandleRead"),
                DLIB_SYM(sym_redisAsyncHandleWrite, "redisAsyncHandleWrite"),
                DLIB_SYM(sym_redisAsyncCommandArgv, "redisAsyncCommandArgv"),
        };

        return dlib_load(&lib, "libhiredis.so.0.14", syms, ELEMENTSOF(syms));
}
