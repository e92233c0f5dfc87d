/* SPDX-License-Identifier: MIT */
#pragma once

/* Private to config/: the YAML node tree, the per-load context and the helpers shared by
 * the stages of config_load() (config.c): file.c + load.c (read, parse into Nodes),
 * expand.c (${VAR}), include.c, then validate.c → jobspec.c/limits.c/exclude.c (checks,
 * using values.c's converters), diag.c (messages). */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <yaml.h>

#include "config.h"
#include "macro.h"

#define CONFIG_MAX_FILE_SIZE   (16u * 1024 * 1024)
#define CONFIG_MAX_STRING      65536u          /* bytes in one scalar, before and after ${} */
#define CONFIG_MAX_DEPTH       32u             /* nested collections in one document */
#define CONFIG_MAX_NODES       1000000u        /* per load, aliases counted as expanded */
#define CONFIG_MAX_INCLUDE_DEPTH 8u
#define CONFIG_MAX_ERRORS      100u            /* shown; then one "too many errors" line */
#define CONFIG_MAX_JOB_NAME    128u
#define CONFIG_MAX_ENV         1024u           /* variables in one env: mapping */

typedef enum NodeKind {
        NODE_SCALAR,
        NODE_SEQUENCE,
        NODE_MAPPING,
} NodeKind;

typedef struct Node Node;
/* 48 bytes: a 1000-job table is some 7000 nodes, the largest part of the memory a load
 * touches for the first time (bench/profile-per-host-cost.md). */
struct Node {
        char *value;            /* scalar text, NUL-terminated (NULs inside are refused) */
        Node **items;           /* sequence: items; mapping: key, value, key, value, ... */
        uint32_t length;        /* of value (of a file of at most 16 MiB) */
        uint32_t n_items;       /* at most CONFIG_MAX_NODES */
        uint32_t weight;        /* nodes in this subtree with aliases expanded, itself included:
                                 * at most CONFIG_MAX_NODES */
        unsigned line, column;  /* 1-based start mark (of the anchor or tag, if any) */
        unsigned end_line0, end_col0; /* 0-based end mark of the source text */
        uint8_t kind;           /* NodeKind */
        uint8_t height;         /* nested collections below, aliases expanded (scalar: 0): at
                                 * most CONFIG_MAX_DEPTH */
        char quote;             /* scalar style: 0 plain, '\'' or '"' quoted, '|' or '>' block */
        bool has_props : 1;     /* written with an anchor or a tag: source text != value */
        bool is_null : 1;       /* plain "", "~", "null", "Null", "NULL", or a !!null tag */
        bool complete : 1;      /* end event seen; an alias to an incomplete node is a loop */
        bool invalid : 1;       /* a diagnostic was already given for this value: skip quietly */
        bool walked : 1;        /* expand.c: visited once (aliases share nodes) */
        bool changed : 1;       /* expand.c: ${} changed the text, columns inside no longer map */
};

/* A bump allocator for the node trees (pool.c). */
typedef struct PoolBlock PoolBlock;
typedef struct PoolKept PoolKept;
typedef struct Pool {
        PoolBlock *blocks;      /* the current block first */
        PoolKept *kept;         /* pool_keep() */
        char *next;
        size_t left;
} Pool;

typedef struct ConfigFile ConfigFile;
struct ConfigFile {
        char *path;             /* as opened: the main path, or dir-of-includer/pattern match */
        size_t index;           /* in ConfigCtx.files; diagnostics sort by it */
        char *source;           /* whole file, NUL-terminated */
        size_t size;
        size_t *line_starts;    /* byte offset of each line, built on first use */
        size_t n_lines;
        Node *root;             /* NULL: empty document, or not parsed (syntax error); in ctx->pool */
        bool parsed;            /* false: unreadable or a syntax error, already reported */
        dev_t dev;
        ino_t ino;
        unsigned depth;         /* 0: the main file */
        ConfigFile *parent;     /* the including file, NULL for the main file */
};

typedef struct PendingDiag {
        ConfigDiag d;
        size_t file_index;
        size_t seq;             /* insertion order, for a stable sort */
} PendingDiag;

typedef struct ZoneEntry {
        char *name;
        Tz *tz;                 /* NULL when loading failed */
        int error;              /* negative errno when tz is NULL */
} ZoneEntry;

typedef struct ConfigCtx {
        ConfigLoadOptions opts;
        ConfigFile **files;
        size_t n_files;
        size_t n_nodes;         /* budget used, see CONFIG_MAX_NODES */
        bool too_many_includes;
        bool too_many_jobs;
        bool oom;               /* an allocation failed somewhere: the load returns -ENOMEM */
        Pool pool;              /* every file's nodes and their values and items; an alias
                                 * shares its anchor's node, so trees are not freed one by one */

        PendingDiag *diags;
        size_t n_diags;
        size_t n_errors;
        size_t n_dropped;       /* not stored: far beyond what is shown */

        ZoneEntry *zones;
        size_t n_zones;

        Config *config;         /* being built; owned by the context until handed out */

        bool keeping_job;       /* expanding a ping: URL: ${JOB} stays as it is */
        bool expanding_lease;   /* expanding the lease: section: note the variables it reads */
        char **lease_env;       /* their names (owned, NULL-terminated, no repeats) */
        size_t n_lease_env;
} ConfigCtx;

/* Where a message belongs and what it starts with ("job 'x': ", "defaults: " or ""). For a
 * job the prefix is made only when a message needs it (config_job_prefix() of job, or "job
 * #N: " with by_index): loading 1000 good jobs formats nothing. */
typedef struct Scope {
        ConfigCtx *ctx;
        const ConfigFile *file;
        const char *prefix;     /* when job is NULL */
        const Node *job;
        size_t job_index;
        bool by_index;
} Scope;

/* diag.c */
void config_diag_add(ConfigCtx *ctx, ConfigSeverity severity, const ConfigFile *f,
                     unsigned line, unsigned column, const char *fmt, ...) _printf_(6, 7);
void config_diag_add_path(ConfigCtx *ctx, const char *path, size_t file_index,
                          const char *fmt, ...) _printf_(4, 5);
void config_error(const Scope *s, const Node *n, const char *fmt, ...) _printf_(3, 4);
void config_error_at(const Scope *s, unsigned line, unsigned column, const char *fmt, ...)
        _printf_(4, 5);
/* Sorts the collected diagnostics by file and place, drops duplicates, caps the number of
 * errors and appends them to *out. */
int config_diags_flush(ConfigCtx *ctx, ConfigDiags *out);
/* How many diagnostics were given, to drop those given after it with config_diags_undo(). */
typedef struct DiagMark {
        size_t n_diags, n_errors, n_dropped;
} DiagMark;
DiagMark config_diags_mark(const ConfigCtx *ctx);
void config_diags_undo(ConfigCtx *ctx, DiagMark m);
/* The closest of `candidates` to `word` by edit distance, or NULL when none is close. */
const char *config_suggest(const char *word, const char *const *candidates, size_t n);
/* " (did you mean 'x'?)" or "" into buf. */
const char *config_suggest_hint(const char *word, const char *const *candidates, size_t n,
                                char *buf, size_t size);

/* pool.c: memory that lives until pool_done(); NULL when out of memory. */
void *pool_alloc(Pool *p, size_t size);
char *pool_strndup(Pool *p, const char *s, size_t n);
/* mem (from malloc()) is freed by pool_done(); -ENOMEM, and mem is still the caller's. */
int pool_keep(Pool *p, void *mem);
void pool_done(Pool *p);

/* node.c */
/* The value of `key` in mapping n, or NULL. */
Node *config_node_get(const Node *n, const char *key);
/* "a mapping", "a sequence", "null", or the scalar text quoted and shortened. */
const char *config_node_describe(const Node *n, char *buf, size_t size);
/* File column of byte `offset` into scalar n's value: exact for single-line scalars whose
 * source text is the value (plain, or quoted without escapes), else n's own column. */
unsigned config_node_column_at(const ConfigFile *f, const Node *n, size_t offset);

/* file.c */
ConfigFile *config_file_free(ConfigFile *f);
DEFINE_TRIVIAL_CLEANUP_FUNC(ConfigFile *, config_file_free);
/* 1-based line and column (in characters) of a byte offset into f's source. */
void config_file_position(ConfigFile *f, size_t offset, unsigned *ret_line, unsigned *ret_col);
/* Byte offset of a 0-based line and column (in characters), or SIZE_MAX. */
size_t config_file_offset(ConfigFile *f, unsigned line0, unsigned col0);
/* Reads and parses `path` into a new ConfigFile appended to ctx->files. Unreadable files are
 * reported at (from, from_node) when given, else at line 0 of the file itself. Returns the
 * file (f->parsed tells whether a tree was built), or NULL with a negative errno in *reterr. */
ConfigFile *config_file_load(ConfigCtx *ctx, const char *path, ConfigFile *parent,
                             const Scope *from, const Node *from_node, int *reterr);

/* load.c */
/* Parses f->source into f->root (f->parsed), reporting syntax and structure errors. */
void config_file_parse(ConfigCtx *ctx, ConfigFile *f);

/* yamlib.c: the libyaml functions load.c calls, valid after config_yaml_load() returned 0. */
typedef struct ConfigYaml {
        int (*parser_initialize)(yaml_parser_t *parser);
        void (*parser_delete)(yaml_parser_t *parser);
        void (*parser_set_input_string)(yaml_parser_t *parser, const unsigned char *input, size_t size);
        int (*parser_parse)(yaml_parser_t *parser, yaml_event_t *event);
        void (*event_delete)(yaml_event_t *event);
} ConfigYaml;
extern ConfigYaml config_yaml;
/* 0, or -EOPNOTSUPP with *ret_error (malloc()ed) saying why libyaml cannot be loaded. */
int config_yaml_load(char **ret_error);
/* The file libyaml was loaded from, and its stat(2) as it was then; -ENOENT when not loaded
 * (or its path is unknown). Valid until config_yaml_release(). */
int config_yaml_identity(const char **ret_path, const struct stat **ret_st);

/* yamlcache.c: libyaml's events of a file, kept in ConfigLoadOptions.cache_dir. */
typedef struct CacheRecording { /* the events of one parse, as the cache file holds them */
        uint8_t *data;
        size_t size, cap;
        size_t n_events;
        bool failed;            /* out of memory: nothing is kept */
} CacheRecording;
void yamlcache_record(CacheRecording *r, const yaml_event_t *e);
void yamlcache_recording_done(CacheRecording *r);
/* Makes dir (mode 0700) unless it is there: 0 when it is ours and no one else may write in
 * it, else a negative errno: then the load uses no cache. The functions below take a dir
 * this returned 0 for. */
int yamlcache_dir_make(const char *dir);
/* Keeps f's events in dir. 0, or a negative errno: the caller goes on without (the next
 * load parses the text again). */
int yamlcache_store(const char *dir, const ConfigFile *f, const CacheRecording *rec);
/* Removes what dir holds for any file but these (a table moved, an include gone) and what
 * an interrupted write left, once no load has used it for 30 days; errors are ignored. */
void yamlcache_prune(const char *dir, char *const *files);

typedef struct CachedEvents {   /* the events of f, read back */
        uint8_t *blob;
        const uint8_t *events, *end;
        uint32_t left;          /* events not read yet; 0 from the first that does not fit */
        uint32_t depth, n_documents;
        uint8_t open[CONFIG_MAX_DEPTH]; /* the kinds of the collections open */
        bool whole;             /* the last event read ended a whole stream: see yamlcache_next() */
} CachedEvents;
/* 0 when dir holds f's events for its very text (hashing as written), else a negative errno
 * (none kept, stale, not ours, damaged): then parse the text. */
int yamlcache_fetch(const char *dir, const ConfigFile *f, CachedEvents *ret);
/* The next event; its strings point into the blob (do not yaml_event_delete() it). False
 * after the last one, or at the first one that does not decode or keep the events read a
 * part of a whole, balanced stream (checked as they are read, not in a pass of its own):
 * c->whole tells which, and without it the events are a miss after all. */
bool yamlcache_next(CachedEvents *c, yaml_event_t *e);
void yamlcache_done(CachedEvents *c);

/* expand.c */
/* Expands ${VAR}, ${VAR:-default} and $$ in every scalar value of f's tree (not in keys). */
void config_expand_file(ConfigCtx *ctx, ConfigFile *f);
/* Expands one string; problems are reported against node n. Returns 0, -EINVAL or -ENOMEM. */
int config_expand_string(const Scope *s, const Node *n, const char *in, char **ret);

/* include.c */
/* Follows the `include:` of f (already loaded), depth first. */
void config_include_process(ConfigCtx *ctx, ConfigFile *f);

/* values.c: converters. `key` names the value in messages ("timeout", "retry.attempts").
 * Each returns 0, or -EINVAL after reporting (quietly when the node is already invalid). */
bool config_node_is_string(const Node *n);
int config_type_error(const Scope *s, const Node *n, const char *key, const char *expected);
int config_get_string(const Scope *s, const Node *n, const char *key, const char **ret);
/* A string that must not be empty, copied into *ret (replacing what was there). */
void config_set_nonempty_string(const Scope *s, const Node *n, const char *key, char **ret);
int config_get_bool(const Scope *s, const Node *n, const char *key, bool *ret);
int config_get_int(const Scope *s, const Node *n, const char *key, int min, int max, int *ret);
int config_get_duration(const Scope *s, const Node *n, const char *key, bool allow_none,
                        usec_t *ret);
int config_get_enum(const Scope *s, const Node *n, const char *key, const char *what,
                    const char *const *names, size_t n_names, int *ret);
int config_get_umask(const Scope *s, const Node *n, const char *key, int *ret);
void config_unknown_key(const Scope *s, const Node *key, const char *where,
                        const char *const *valid, size_t n_valid);
bool config_job_name_valid(const char *name);
/* "job 'NAME': " when the mapping has a valid name, else "job #INDEX+1: ". */
const char *config_job_prefix(const Node *job, size_t index, char *buf, size_t size);

/* jobspec.c: one job mapping, or the `defaults:` mapping, checked and converted. Strings
 * are borrowed from the tree (alive until config_load() returns). */
typedef enum JobField {
        JOB_FIELD_TIMEZONE,
        JOB_FIELD_TIMEOUT,
        JOB_FIELD_KILL_AFTER,
        JOB_FIELD_OVERLAP,
        JOB_FIELD_RETRY_ATTEMPTS,
        JOB_FIELD_RETRY_BACKOFF,
        JOB_FIELD_RETRY_MAX_BACKOFF,
        JOB_FIELD_RETRY_ON,
        JOB_FIELD_JITTER,
        JOB_FIELD_CATCH_UP,
        JOB_FIELD_USER,
        JOB_FIELD_GROUP,
        JOB_FIELD_WORKDIR,
        JOB_FIELD_UMASK,
        JOB_FIELD_NICE,
        JOB_FIELD_LEASE,
        JOB_FIELD_TAKEOVER,
        JOB_FIELD_ON_LEASE_LOST,
        JOB_FIELD_ON_STORE_DOWN,
        JOB_FIELD_PING,
        JOB_FIELD_NOTIFY,
        JOB_FIELD_ON_FAILURE,           /* the hooks: JOB_FIELD_ON_FAILURE + HookKind */
        JOB_FIELD_ON_SUCCESS,
        JOB_FIELD_ON_RETRY,
        JOB_FIELD_MISSED_AFTER,
        _JOB_FIELD_MAX,
} JobField;

#define CONFIG_N_LIMITS 9       /* the resources of limits.c's table */

typedef struct WebhookSpec {    /* borrowed strings */
        const char *url, *secret_file;
        NotifyOn on;
        WebhookFormat format;
} WebhookSpec;

typedef struct HookSpec {
        char **argv;            /* owned, shallow: the strings are borrowed; NULL: none */
        bool shell;
        bool every_attempt;
        usec_t timeout;
} HookSpec;
/* The S3 connection keys, the same in lease: and output.s3: (s3_keys.c). */
typedef enum S3Key {
        S3_KEY_BUCKET,
        S3_KEY_ENDPOINT,
        S3_KEY_REGION,
        S3_KEY_PATH_STYLE,
        S3_KEY_CA_FILE,
        _S3_KEY_MAX,
} S3Key;

/* output.s3's own keys follow the connection's (output_section.c). */
typedef enum OutputKey {
        OUTPUT_KEY_PREFIX = _S3_KEY_MAX,
        OUTPUT_KEY_MAX_SIZE,
        OUTPUT_KEY_GZIP,
        _OUTPUT_KEY_MAX,
} OutputKey;

typedef struct OutputSpec {     /* a mapping's output: as written (strings borrowed) */
        const Node *node;       /* the output: value; NULL: not given */
        uint32_t set;           /* 1 << S3Key or OutputKey: given (and valid) */
        bool none;              /* output: none */
        bool invalid;           /* something in it was refused (and reported) */
        const char *str[_S3_KEY_MAX];   /* bucket, endpoint, region, -, ca_file */
        bool path_style, gzip;
        const char *prefix;
        uint64_t max_size;
} OutputSpec;

typedef struct JobSpec {
        uint32_t set;           /* 1 << JobField: given (and valid) in this mapping */
        bool failed;            /* some value in this mapping was refused */
        bool is_defaults;
        const Node *node;

        /* jobs only */
        const Node *name_node, *schedule_node, *command_node;
        const char *name;       /* NULL unless given and valid */
        const char *description;
        bool enabled;
        bool suspend;
        CronExpr schedule;
        char *schedule_text;    /* owned, stripped */
        char **argv;            /* owned, shallow: the strings are borrowed */
        bool shell;

        const char *timezone;
        const Tz *tz;
        usec_t timeout, kill_after, jitter, catch_up, retry_backoff, retry_max_backoff;
        usec_t missed_after;    /* USEC_INFINITY: none (no missed-firing alarm) */
        OverlapPolicy overlap;
        bool no_lease, takeover;
        LeaseLostPolicy on_lease_lost;
        StoreDownPolicy on_store_down;
        unsigned retry_attempts;
        RetryOn retry_on;
        const char **env;       /* owned array of borrowed pairs: key0, value0, key1, ... */
        size_t n_env;
        const char **env_keep;  /* owned array of borrowed names */
        size_t n_env_keep;
        const Node *env_keep_node;
        const char *user, *group, *workdir;
        int umask, nice;
        JobLimit limits[CONFIG_N_LIMITS];
        uint32_t limits_set;    /* 1 << index into the limits table */
        const Node **excludes;  /* owned array of valid exclude scalars */
        size_t n_excludes;
        const char *ping;       /* NULL (with JOB_FIELD_PING set): `ping: ~`, none */
        WebhookSpec *webhooks;  /* owned array */
        size_t n_webhooks;
        HookSpec hooks[_HOOK_KIND_MAX];
        OutputSpec output;
} JobSpec;

void config_jobspec_done(JobSpec *j);
void config_jobspec_parse(const Scope *s, const Node *m, bool is_defaults, JobSpec *ret);

/* jobspec.c: a command (string → /bin/sh -c, or argv); strings borrowed from the nodes. */
int config_get_command(const Scope *s, const Node *v, char ***ret_argv, bool *ret_shell);

/* notify_spec.c: ping:, notify:, on_failure:, on_success:, on_retry: of a job or defaults. */
void config_spec_ping(const Scope *s, const Node *v, JobSpec *j);
void config_spec_notify(const Scope *s, const Node *v, JobSpec *j);
void config_spec_hook(const Scope *s, const Node *v, HookKind kind, JobSpec *j);
void config_notify_spec_done(JobSpec *j);
/* The job's notifications over the defaults', interned in ctx->config; *ret NULL when the
 * job has none. -ENOMEM. */
int config_notify_build(ConfigCtx *ctx, const JobSpec *d, const JobSpec *j,
                        const NotifyConfig **ret);
void config_notify_free(NotifyConfig *n);

/* lease_section.c: the lease: section into ctx->config->lease. */
void config_lease_defaults(LeaseConfig *l);
void config_lease_done(LeaseConfig *l);
void config_check_lease(const Scope *s, const Node *v);

/* s3_keys.c: one S3 connection key's value, checked as S3 wants it (a bucket name, an
 * http(s):// endpoint, a region name, a bool, a path); where names the section in messages
 * ("lease", "output.s3"). A string in *ret_string (borrowed from the tree), path_style in
 * *ret_bool. -1 when key is not one of them, else the S3Key, or -EINVAL after reporting. */
extern const char *const config_s3_keys[_S3_KEY_MAX];
int config_s3_key(const char *key);
int config_s3_value(const Scope *s, const char *where, S3Key k, const Node *v,
                    const char **ret_string, bool *ret_bool);
/* A virtual-hosted-style URL needs a host name: endpoint (checked) names an IP address. */
bool config_s3_endpoint_is_ip(const char *endpoint);

/* output_section.c: a mapping's output: (jobs and defaults). */
void config_spec_output(const Scope *s, const Node *v, JobSpec *j);
/* Job over defaults over the S3 lease: a bucket is needed (reported at the job's output:,
 * or the defaults'). false: reported. */
bool config_output_check(const Scope *s, const JobSpec *defaults, const JobSpec *job);
/* The job's resolved output settings, interned in ctx->config (*ret NULL: none). -ENOMEM. */
int config_output_build(ConfigCtx *ctx, const JobSpec *defaults, const JobSpec *job,
                        const OutputS3Config **ret);
void config_output_free(OutputS3Config *o);

/* api_section.c: the api: section into ctx->config->api. */
void config_check_api(const Scope *s, const Node *v);
void config_api_done(ApiConfig *a);

/* main_section.c: the main: section into ctx->config->main. */
void config_check_main(const Scope *s, const Node *v);

/* limits.c */
void config_spec_limits(const Scope *s, const Node *v, JobSpec *j);

/* exclude.c: cron text. */
/* s without leading and trailing blanks and newlines; *ret_lead: how many were cut. */
char *config_strip(const char *s, size_t *ret_lead);
/* cronexpr_parse() of n's text (stripped); `what` names it in messages ("schedule"). */
int config_parse_schedule(const Scope *s, const Node *n, const char *what, const char *hash_key,
                          bool report, CronExpr *ret);
/* One exclude: entry (a date or a cron expression), reported only when `report`. */
int config_exclude_parse(const Scope *s, const Node *v, const char *hash_key, bool report,
                         Exclude *ret);
void config_spec_exclude(const Scope *s, const Node *v, JobSpec *j);

/* config.c */
/* Merges job over defaults (never NULL) over the built-in defaults into *ret. */
int config_jobspec_build(ConfigCtx *ctx, const ConfigFile *f, const JobSpec *defaults,
                         const JobSpec *job, const Tz *default_tz, JobConfig *ret);
void config_job_done(JobConfig *j);

/* validate.c */
int config_zone_get(ConfigCtx *ctx, const char *name, const Tz **ret);
int config_validate(ConfigCtx *ctx);
