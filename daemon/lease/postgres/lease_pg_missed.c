/* SPDX-License-Identifier: MIT */
/* The missed-firing alarm of the PostgreSQL lease backend (check_missed, see lease.h and
 * daemon/core/missed.c): one statement (STMT_MISSED in lease_pg.c) reads the firing's row
 * and the pause, and, asked to raise, inserts (prefix, job, scheduled) into solocron_alarms
 * ON CONFLICT DO NOTHING when nobody holds or has run the firing: the one insert that makes
 * a row raised the alarm. One request per check, raising or not; alarms older than history
 * go with the hourly trim. A schema made by an older init-store may lack the table: then
 * the check answers an error (the core logs missed_check_failed) and elections go on. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lease_pg_internal.h"
#include "lease_record.h"
#include "list.h"
#include "macro.h"
#include "pqlib.h"
#include "timeutil.h"

static const char store_closing[] = "the postgres lease store is closing";

struct PgMissed {               /* on store->missed until answered, which frees it */
        PgStore *store;
        PgMissed *prev, *next;
        PgCall *call;
        lease_missed_cb done;
        void *userdata;
};

static void missed_answer(PgMissed *m, LeaseFiringState state, bool raised, const char *error) {
        PgStore *s = m->store;

        LIST_UNLINK(s->missed, m);
        lease_pg_call_cancel(m->call);
        m->call = NULL;
        m->done(state, raised, error, m->userdata);
        free(m);
        lease_pg_store_maybe_closed(s);
}

static void missed_on_done(PgCall *k, const PGresult *res, int error, void *owner) {
        PgMissed *m = owner;
        char why[PG_WHY_MAX + 64];
        const char *st, *raised;
        LeaseFiringState state;

        m->call = NULL;
        if (!res) {
                lease_pg_call_failure(k, error, why, sizeof(why));
                return missed_answer(m, LEASE_FIRING_NONE, false, why);
        }
        if (sym_PQntuples(res) == 1 && !sym_PQgetisnull(res, 0, 0) &&
            !sym_PQgetisnull(res, 0, 1)) {
                st = sym_PQgetvalue(res, 0, 0);
                raised = sym_PQgetvalue(res, 0, 1);
                if (lease_firing_state_from_name(st, &state))
                        return missed_answer(m, state, strcmp(raised, "t") == 0, NULL);
        }
        missed_answer(m, LEASE_FIRING_NONE, false, "unexpected answer to the missed statement");
}

void lease_pg_check_missed(LeaseStore *store, const LeaseRequest *req, bool raise,
                           lease_missed_cb done, void *userdata) {
        PgStore *s = container_of(store, PgStore, store);
        char when[RFC3339_UTC_MAX], at[24], by[320];
        PgMissed *m;

        if (s->closing || s->no_alarms) {
                done(LEASE_FIRING_NONE, false, s->closing ? store_closing :
                     "the table solocron_alarms is missing (solocron init-store creates it)",
                     userdata);
                return;
        }
        m = calloc(1, sizeof(PgMissed));
        if (!m) {
                done(LEASE_FIRING_NONE, false, "out of memory", userdata);
                return;
        }
        *m = (PgMissed) { .store = s, .done = done, .userdata = userdata };
        LIST_PREPEND(s->missed, m);
        format_rfc3339_utc(req->scheduled, when);
        (void) snprintf(at, sizeof(at), "%" PRId64, req->scheduled);
        (void) snprintf(by, sizeof(by), "%s pid %" PRId64, s->hostname, s->pid);
        m->call = lease_pg_call(s, STMT_MISSED,
                                (const char *const[]) { s->prefix, req->job, when,
                                                        raise ? "true" : "false", by, at }, 6,
                                lease_pg_now_ms(s) + s->election_ms, missed_on_done, m);
        if (!m->call)
                missed_answer(m, LEASE_FIRING_NONE, false, "out of memory");
}

void lease_pg_missed_close(PgStore *s) {
        while (s->missed)
                missed_answer(s->missed, LEASE_FIRING_NONE, false, store_closing);
}
