/* SPDX-License-Identifier: MIT */
#pragma once

/* libpq, loaded at run time the first time a PostgreSQL lease store is made (as curlib.c does
 * for libcurl): linked, it and what it needs (TLS, GSSAPI, LDAP) would be mapped into every
 * daemon. The non-blocking API only, through sym_ pointers with libpq's own prototypes. */

#include <libpq-fe.h>

extern __typeof__(PQconnectStart) *sym_PQconnectStart;
extern __typeof__(PQconnectPoll) *sym_PQconnectPoll;
extern __typeof__(PQstatus) *sym_PQstatus;
extern __typeof__(PQsocket) *sym_PQsocket;
extern __typeof__(PQerrorMessage) *sym_PQerrorMessage;
extern __typeof__(PQsetnonblocking) *sym_PQsetnonblocking;
extern __typeof__(PQfinish) *sym_PQfinish;
extern __typeof__(PQsendQuery) *sym_PQsendQuery;
extern __typeof__(PQsendPrepare) *sym_PQsendPrepare;
extern __typeof__(PQsendQueryPrepared) *sym_PQsendQueryPrepared;
extern __typeof__(PQconsumeInput) *sym_PQconsumeInput;
extern __typeof__(PQisBusy) *sym_PQisBusy;
extern __typeof__(PQgetResult) *sym_PQgetResult;
extern __typeof__(PQresultStatus) *sym_PQresultStatus;
extern __typeof__(PQresultErrorMessage) *sym_PQresultErrorMessage;
extern __typeof__(PQntuples) *sym_PQntuples;
extern __typeof__(PQgetvalue) *sym_PQgetvalue;
extern __typeof__(PQgetisnull) *sym_PQgetisnull;
extern __typeof__(PQclear) *sym_PQclear;
extern __typeof__(PQflush) *sym_PQflush;
extern __typeof__(PQsetNoticeProcessor) *sym_PQsetNoticeProcessor;

/* 0, or -EOPNOTSUPP when libpq.so.5 is not installed. */
int pqlib_load(void);
