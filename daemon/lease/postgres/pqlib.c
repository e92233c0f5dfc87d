/* SPDX-License-Identifier: MIT */
#include "dlib.h"
#include "macro.h"
#include "pqlib.h"

__typeof__(PQconnectStart) *sym_PQconnectStart;
__typeof__(PQconnectPoll) *sym_PQconnectPoll;
__typeof__(PQstatus) *sym_PQstatus;
__typeof__(PQsocket) *sym_PQsocket;
__typeof__(PQerrorMessage) *sym_PQerrorMessage;
__typeof__(PQsetnonblocking) *sym_PQsetnonblocking;
__typeof__(PQfinish) *sym_PQfinish;
__typeof__(PQsendQuery) *sym_PQsendQuery;
__typeof__(PQsendPrepare) *sym_PQsendPrepare;
__typeof__(PQsendQueryPrepared) *sym_PQsendQueryPrepared;
__typeof__(PQconsumeInput) *sym_PQconsumeInput;
__typeof__(PQisBusy) *sym_PQisBusy;
__typeof__(PQgetResult) *sym_PQgetResult;
__typeof__(PQresultStatus) *sym_PQresultStatus;
__typeof__(PQresultErrorMessage) *sym_PQresultErrorMessage;
__typeof__(PQntuples) *sym_PQntuples;
__typeof__(PQgetvalue) *sym_PQgetvalue;
__typeof__(PQgetisnull) *sym_PQgetisnull;
__typeof__(PQclear) *sym_PQclear;
__typeof__(PQflush) *sym_PQflush;
__typeof__(PQsetNoticeProcessor) *sym_PQsetNoticeProcessor;

DLIB_ELF_NOTE(pq, "fleet leases (PostgreSQL)", "suggested", "libpq.so.5");

int pqlib_load(void) {
        static Dlib lib;
        static const DlibSym syms[] = {
                DLIB_SYM(sym_PQconnectStart, "PQconnectStart"),
                DLIB_SYM(sym_PQconnectPoll, "PQconnectPoll"),
                DLIB_SYM(sym_PQstatus, "PQstatus"),
                DLIB_SYM(sym_PQsocket, "PQsocket"),
                DLIB_SYM(sym_PQerrorMessage, "PQerrorMessage"),
                DLIB_SYM(sym_PQsetnonblocking, "PQsetnonblocking"),
                DLIB_SYM(sym_PQfinish, "PQfinish"),
                DLIB_SYM(sym_PQsendQuery, "PQsendQuery"),
                DLIB_SYM(sym_PQsendPrepare, "PQsendPrepare"),
                DLIB_SYM(sym_PQsendQueryPrepared, "PQsendQueryPrepared"),
                DLIB_SYM(sym_PQconsumeInput, "PQconsumeInput"),
                DLIB_SYM(sym_PQisBusy, "PQisBusy"),
                DLIB_SYM(sym_PQgetResult, "PQgetResult"),
                DLIB_SYM(sym_PQresultStatus, "PQresultStatus"),
                DLIB_SYM(sym_PQresultErrorMessage, "PQresultErrorMessage"),
                DLIB_SYM(sym_PQntuples, "PQntuples"),
                DLIB_SYM(sym_PQgetvalue, "PQgetvalue"),
                DLIB_SYM(sym_PQgetisnull, "PQgetisnull"),
                DLIB_SYM(sym_PQclear, "PQclear"),
                DLIB_SYM(sym_PQflush, "PQflush"),
                DLIB_SYM(sym_PQsetNoticeProcessor, "PQsetNoticeProcessor"),
        };

        return dlib_load(&lib, "libpq.so.5", syms, ELEMENTSOF(syms));
}
