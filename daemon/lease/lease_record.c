/* SPDX-License-Identifier: MIT */
/* Records as every backend writes them (lease_record.h). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lease_record.h"
#include "macro.h"
#include "parse.h"
#include "timeutil.h"

static int64_t time_field(json_t *rec, const char *name) {
        const char *s = json_string_value(json_object_get(rec, name));
        int64_t t;
        bool abs;

        return s && parse_timestamp(s, &t, &abs) == 0 && abs ? t : 0;
}

static int64_t int_field(json_t *rec, const char *name, int64_t missing) {
        json_t *v = json_object_get(rec, name);

        return json_is_integer(v) ? (int64_t) json_integer_value(v) : missing;
}

bool lease_record_from_json(json_t *rec, LeaseRecord *ret) {
        json_t *holder = json_object_get(rec, "holder");
        json_t *token = json_object_get(rec, "fencing_token") ?: json_object_get(rec, "token");

        *ret = (LeaseRecord) {
                .job = json_string_value(json_object_get(rec, "job")),
                .scheduled = time_field(rec, "scheduled"),
                .manual = json_string_value(json_object_get(rec, "manual")),
                .host = json_is_object(holder) ?
                        json_string_value(json_object_get(holder, "hostname")) :
                        json_string_value(holder),
                .pid = int_field(json_is_object(holder) ? holder : rec, "pid", 0),
                .run_id = json_string_value(json_object_get(rec, "run")),
                .status = json_string_value(json_object_get(rec, "status")),
                .exit_status = int_field(rec, "exit_status", -1),
                .started = time_field(rec, "started"),
                .finished = time_field(rec, "finished"),
                .duration_msec = int_field(rec, "duration_ms", -1),
                .attempt = (unsigned) int_field(rec, "attempt", 1),
                .fencing_token = json_is_integer(token) ? (uint64_t) json_integer_value(token) : 0,
                .output = json_string_value(json_object_get(rec, "output")),
        };
        return ret->job && ret->scheduled > 0;
}

static int newest_first(const void *a, const void *b) {
        const LeaseRecord *x = a, *y = b;

        /* The same instant (manual runs asked for within a second): what still runs, then
         * what ended last, then the later attempt. */
        int64_t xf = x->finished ? x->finished : INT64_MAX;
        int64_t yf = y->finished ? y->finished : INT64_MAX;

        if (x->scheduled != y->scheduled)
                return x->scheduled < y->scheduled ? 1 : -1;
        if (xf != yf)
                return xf < yf ? 1 : -1;
        return x->attempt < y->attempt ? 1 : x->attempt > y->attempt ? -1 : 0;
}

size_t lease_records_select(LeaseRecord *records, size_t n, int64_t since, unsigned limit) {
        size_t kept = 0;

        for (size_t i = 0; i < n; i++)
                if (records[i].scheduled >= since)
                        records[kept++] = records[i];
        if (kept > 1)
                qsort(records, kept, sizeof(LeaseRecord), newest_first);
        return kept < limit ? kept : limit;
}

bool lease_manual_key_valid(const char *key) {
        size_t n = strspn(key, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-");

        return n > 0 && n <= 64 && key[n] == 0;
}

bool lease_firing_state_from_name(const char *name, LeaseFiringState *ret) {
        static const char *const names[] = {
                [LEASE_FIRING_NONE] = "none",
                [LEASE_FIRING_RUNNING] = "running",
                [LEASE_FIRING_DONE] = "done",
                [LEASE_FIRING_ABANDONED] = "abandoned",
                [LEASE_FIRING_PAUSED] = "paused",
        };

        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (names[i] && strcmp(name, names[i]) == 0) {
                        *ret = (LeaseFiringState) i;
                        return true;
                }
        return false;
}
