/* SPDX-License-Identifier: MIT */
#pragma once

/* libhiredis, loaded at run time the first time a Redis lease store is made (as curlib.c does
 * for libcurl): linked, it would cost every daemon about 40 KiB of idle RSS. Only the async
 * API, through sym_ pointers with the library's own prototypes. */

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

extern __typeof__(redisAsyncConnect) *sym_redisAsyncConnect;
extern __typeof__(redisAsyncSetConnectCallback) *sym_redisAsyncSetConnectCallback;
extern __typeof__(redisAsyncFree) *sym_redisAsyncFree;
extern __typeof__(redisAsyncHandleRead) *sym_redisAsyncHandleRead;
extern __typeof__(redisAsyncHandleWrite) *sym_redisAsyncHandleWrite;
extern __typeof__(redisAsyncCommandArgv) *sym_redisAsyncCommandArgv;

/* 0, or -EOPNOTSUPP when libhiredis.so.0.14 is not installed. */
int redislib_load(void);
