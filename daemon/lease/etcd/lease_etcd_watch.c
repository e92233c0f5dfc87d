/* SPDX-License-Identifier: MIT */
/* Takeover watches of the etcd lease backend (see lease_etcd.c for the design). A watch
 * ranges the firing's key, then follows it with a /v3/watch stream from the revision that
 * range saw: the holder's key disappears with its lease (a DELETE event) → ended(true); a
 * final record → ended(false). The stream lasts TTL/2, then the watch ranges and streams
 * again, so a stream that goes quiet for a reason it cannot tell (a member cut off from the
 * others, a dead peer) costs no more than the poll it replaces: TTL/2 in the worst case, at
 * once in the usual one. After a failure it ranges again TTL/2 later. A stream holds one
 * connection of the client for as long as it lasts, so at most ETCD_WATCH_STREAMS_MAX
 * watches stream at once; the others range the key every TTL/2 instead. */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lease_etcd_internal.h"
#include "list.h"
#include "macro.h"
#include "timeutil.h"

#define ETCD_WATCH_STREAMS_MAX  8U      /* of HTTP_CONNECTIONS_MAX: claims need the rest */
#define ETCD_WATCH_LINE_MAX     (64U * 1024U)   /* one event message: one record at most */

static void watch_sync(Alarm *a);

static void watch_sync_later(LeaseWatch *w) {
        EtcdStore *s = w->store;

        lease_etcd_alarm_arm(s, &w->alarm, lease_etcd_now_ms(s) + s->ttl_ms / 2, watch_sync);
}

/* One message of the stream: {"result": {"header": …, "events": [{"type": "DELETE", "kv":
 * …}, …]}}, or {"result": {"canceled": true, …}} (compacted past our revision), or
 * {"error": …}. Sets the verdict; WATCH_GOING means read on. */
static WatchVerdict watch_on_message(LeaseWatch *w, const char *text, size_t n) {
        json_t *msg = json_loadb(text, n, 0, NULL), *result = json_object_get(msg, "result");
        WatchVerdict v = WATCH_GOING;
        const json_t *ev;
        uint64_t rev;
        size_t i;

        if (!json_is_object(result) || json_is_true(json_object_get(result, "canceled"))) {
                json_decref(msg);
                return WATCH_RESYNC;
        }
        if (lease_etcd_json_u64(json_object_get(result, "header"), "revision", &rev) == 0 &&
            rev > w->revision)
                w->revision = rev;
        json_array_foreach(json_object_get(result, "events"), i, ev) {
                const char *type = json_string_value(json_object_get(ev, "type"));
                const char *what;
                Kv kv;

                if (type && strcmp(type, "DELETE") == 0) {
                        v = WATCH_EXPIRED;      /* proto3 omits the default type, PUT */
                        break;
                }
                if (lease_etcd_kv_parse(json_object_get(ev, "kv"), &kv, &what) < 0) {
                        v = WATCH_RESYNC;
                        break;
                }
                if (kv.record && lease_etcd_record_is_running(kv.record))
                        lease_etcd_seen_put(w->store, w->key, kv.record, kv.mod_revision);
                else if (kv.record)
                        v = WATCH_FINAL;
                json_decref(kv.record);
                if (v != WATCH_GOING)
                        break;
        }
        json_decref(msg);
        return v;
}

/* From inside libcurl: only note what the stream says; watch_on_stream_end acts on it. */
static bool watch_on_data(const char *data, size_t size, void *owner) {
        LeaseWatch *w = owner;

        while (size > 0 && w->verdict == WATCH_GOING) {
                const char *nl = memchr(data, '\n', size);
                size_t take = nl ? (size_t) (nl - data) : size;
                char *p;

                if (w->line_len + take > ETCD_WATCH_LINE_MAX) {
                        w->verdict = WATCH_RESYNC;
                        break;
                }
                p = realloc(w->line, w->line_len + take + 1);
                if (!p) {
                        w->verdict = WATCH_RESYNC;
                        break;
                }
                w->line = p;
                memcpy(w->line + w->line_len, data, take);
                w->line_len += take;
                if (!nl)
                        break;
                w->verdict = watch_on_message(w, w->line, w->line_len);
                w->line_len = 0;
                data = nl + 1;
                size -= take + 1;
        }
        return w->verdict == WATCH_GOING;
}

static void watch_stream_stopped(LeaseWatch *w) {
        if (w->streaming) {
                w->streaming = false;
                w->store->n_streams--;
        }
        free(w->line);
        w->line = NULL;
        w->line_len = 0;
}

static int watch_on_stream_end(EtcdCall *k, json_t *reply, int error, void *owner) {
        LeaseWatch *w = owner;
        WatchVerdict v = w->verdict;

        (void) k;
        (void) reply;
        w->call = NULL;
        w->verdict = WATCH_GOING;
        watch_stream_stopped(w);
        switch (v) {
        case WATCH_EXPIRED:
                w->ended(true, w->userdata);    /* may unwatch (free) w: last */
                return 0;
        case WATCH_FINAL:
                w->ended(false, w->userdata);   /* nothing to take over: stop looking */
                return 0;
        case WATCH_RESYNC:
        case WATCH_GOING:
                /* The stream's time is up, or the server ended it: range and stream again
                 * now; after a failure (etcd unreachable), in TTL/2. */
                if (v == WATCH_GOING && (error == 0 || error == -ETIMEDOUT))
                        watch_sync(&w->alarm);
                else
                        watch_sync_later(w);
                return 0;
        }
        return 0;
}

static void watch_stream(LeaseWatch *w) {
        EtcdStore *s = w->store;
        char rev[24];

        (void) snprintf(rev, sizeof(rev), "%llu", (unsigned long long) (w->revision + 1));
        w->call = lease_etcd_call_stream(s, "/v3/watch",
                                   json_pack("{s:{s:s,s:s}}", "create_request", "key", w->key64,
                                             "start_revision", rev),
                                   lease_etcd_now_ms(s) + s->ttl_ms / 2,
                                   (uint32_t) (s->ttl_ms / 2 > 1000 ? s->ttl_ms / 2 : 1000),
                                   watch_on_data, watch_on_stream_end, w);
        if (!w->call) {
                watch_sync_later(w);
                return;
        }
        w->streaming = true;
        s->n_streams++;
}

static int watch_on_range(EtcdCall *k, json_t *reply, int error, void *owner) {
        LeaseWatch *w = owner;
        EtcdStore *s = w->store;
        Kv kv = {};

        (void) error;
        if (reply && lease_etcd_range_reply_kv(k, reply, &kv) < 0)
                return -EAGAIN;
        w->call = NULL;
        if (!reply) {                   /* etcd unreachable: that proves nothing, look again */
                watch_sync_later(w);
                return 0;
        }
        if (!kv.found) {
                /* The key went with its holder's lease (or was released without a final
                 * record): a record that said running. */
                w->ended(true, w->userdata);    /* may unwatch (free) w: last */
                return 0;
        }
        if (kv.record && !lease_etcd_record_is_running(kv.record)) {
                json_decref(kv.record);
                w->ended(false, w->userdata);   /* final: nothing to take over */
                return 0;
        }
        if (kv.record)
                lease_etcd_seen_put(s, w->key, kv.record, kv.mod_revision);
        json_decref(kv.record);
        /* Follow the key from the revision this answer reflects. */
        if (lease_etcd_json_u64(json_object_get(reply, "header"), "revision", &w->revision) < 0)
                w->revision = kv.mod_revision;
        if (s->n_streams < ETCD_WATCH_STREAMS_MAX)
                watch_stream(w);
        else
                watch_sync_later(w);
        return 0;
}

static void watch_sync(Alarm *a) {
        LeaseWatch *w = container_of(a, LeaseWatch, alarm);
        EtcdStore *s = w->store;
        uint64_t now = lease_etcd_now_ms(s);

        w->call = lease_etcd_call_start(s, "/v3/kv/range", lease_etcd_body_range(w->key64),
                                  now + s->ttl_ms / 2, watch_on_range, w);
        if (!w->call)
                watch_sync_later(w);
}

int lease_etcd_watch(LeaseStore *store, const LeaseRequest *req,
               void (*ended)(bool holder_died, void *userdata), void *userdata, LeaseWatch **ret) {
        EtcdStore *s = container_of(store, EtcdStore, store);
        char when[RFC3339_UTC_MAX];
        LeaseWatch *w;

        assert(req && req->job && ended && ret);
        if (s->closing)
                return -ESHUTDOWN;
        w = calloc(1, sizeof(LeaseWatch));
        if (!w)
                return -ENOMEM;
        *w = (LeaseWatch) { .store = s, .ended = ended, .userdata = userdata };
        if (asprintf(&w->key, "%s/%s/%s", s->prefix, req->job,
                     format_rfc3339_utc(req->scheduled, when)) < 0)
                w->key = NULL;
        w->key64 = w->key ? lease_etcd_b64_encode(w->key, strlen(w->key)) : NULL;
        if (!w->key64) {
                free(w->key);
                free(w);
                return -ENOMEM;
        }
        LIST_PREPEND(s->watches, w);
        /* From the loop, never from inside the claim's callback that asked for it. */
        lease_etcd_alarm_arm(s, &w->alarm, lease_etcd_now_ms(s), watch_sync);
        *ret = w;
        return 0;
}

void lease_etcd_unwatch(LeaseWatch *w) {
        EtcdStore *s;

        if (!w)
                return;
        s = w->store;
        lease_etcd_alarm_disarm(s, &w->alarm);
        lease_etcd_call_cancel(w->call);
        watch_stream_stopped(w);
        LIST_UNLINK(s->watches, w);
        free(w->key);
        free(w->key64);
        free(w);
}
