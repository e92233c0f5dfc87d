/* SPDX-License-Identifier: MIT */
/* The commands that ask a running daemon through its API: a small blocking HTTP/1.1 client
 * (one request per connection) over the unix socket, or TCP with --url (plain HTTP: TLS is
 * a reverse proxy's, see solocron(8)). */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli.h"
#include "cli_api.h"
#include "macro.h"
#include "parse.h"

#define CLI_API_TIMEOUT_SEC 30
#define CLI_API_MAX_ANSWER (16 * 1024 * 1024)

static int connect_unix(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd;

        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        memcpy(sa.sun_path, path, strlen(path) + 1);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                int r = -errno;

                (void) close(fd);
                return r;
        }
        return fd;
}

/* "http://HOST:PORT" or "http://[V6]:PORT" (a path after it is ignored). */
static int connect_url(const char *url) {
        struct addrinfo *ai = NULL, hints = { .ai_socktype = SOCK_STREAM };
        char buf[300], *host = buf, *port, *close_bracket;
        size_t n;
        int fd = -ECONNREFUSED;

        if (strncmp(url, "http://", 7) != 0)
                return -EPROTONOSUPPORT;
        n = strcspn(url + 7, "/");
        if (n >= sizeof(buf))
                return -EINVAL;
        memcpy(buf, url + 7, n);
        buf[n] = 0;
        if (buf[0] == '[') {
                close_bracket = strchr(buf, ']');
                if (!close_bracket || close_bracket[1] != ':')
                        return -EINVAL;
                *close_bracket = 0;
                host = buf + 1;
                port = close_bracket + 2;
        } else {
                port = strrchr(buf, ':');
                if (!port)
                        return -EINVAL;
                *port++ = 0;
        }
        if (getaddrinfo(host, port, &hints, &ai) != 0)
                return -EHOSTUNREACH;
        for (struct addrinfo *a = ai; a; a = a->ai_next) {
                fd = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
                if (fd < 0) {
                        fd = -errno;
                        continue;
                }
                if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
                        break;
                (void) close(fd);
                fd = -errno;
        }
        freeaddrinfo(ai);
        return fd;
}

static int read_token(const char *path, char **ret) {
        _cleanup_free_ char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        FILE *f = fopen(path, "re");

        if (!f)
                return -errno;
        n = getline(&line, &cap, f);
        fclose(f);
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' '))
                line[--n] = 0;
        if (n <= 0)
                return -EINVAL;
        *ret = TAKE_PTR(line);
        return 0;
}

/* The whole request; a daemon that closes first is an error, not a SIGPIPE. */
static int send_all(int fd, const char *p, size_t n) {
        for (ssize_t k; n > 0; p += k, n -= (size_t) k) {
                k = send(fd, p, n, MSG_NOSIGNAL);
                if (k < 0 && errno == EINTR)
                        k = 0;
                else if (k < 0)
                        return -errno;
        }
        return 0;
}

/* Read the whole answer (the server closes: Connection: close). */
static int read_all(int fd, char **ret, size_t *ret_size) {
        _cleanup_free_ char *buf = NULL;
        size_t size = 0, cap = 0;

        for (;;) {
                ssize_t k;

                if (size + 4096 + 1 > cap) {
                        char *b;

                        cap = cap ? cap * 2 : 8192;
                        if (cap > CLI_API_MAX_ANSWER)
                                return -EFBIG;
                        b = realloc(buf, cap);
                        if (!b)
                                return -ENOMEM;
                        buf = b;
                }
                k = read(fd, buf + size, cap - size - 1);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return errno == EAGAIN ? -ETIMEDOUT : -errno;
                if (k == 0)
                        break;
                size += (size_t) k;
        }
        buf[size] = 0;
        *ret = TAKE_PTR(buf);
        *ret_size = size;
        return 0;
}

int cli_api_call(const CliApi *api, const char *method, const char *target,
                 const char *extra_headers, CliAnswer *ret) {
        _cleanup_free_ char *token = NULL, *request = NULL, *answer = NULL;
        struct timeval tv = { .tv_sec = CLI_API_TIMEOUT_SEC };
        const char *where = api->url ? api->url : api->socket;
        char *body;
        uint64_t status;
        size_t size;
        int fd, r;

        if (api->token_file) {
                r = read_token(api->token_file, &token);
                if (r < 0) {
                        fprintf(stderr, "solocron: cannot read the token from '%s': %s\n",
                                api->token_file, strerror(-r));
                        return r;
                }
        }
        fd = api->url ? connect_url(api->url) : connect_unix(api->socket);
        if (fd < 0) {
                if (fd == -ENOENT || fd == -ECONNREFUSED)
                        fprintf(stderr, "solocron: no daemon is listening on '%s' (its table needs "
                                "an api: section; see solocron.yaml(5)), or give --socket/--url\n",
                                where);
                else
                        fprintf(stderr, "solocron: cannot connect to '%s': %s\n", where,
                                strerror(-fd));
                return fd;
        }
        if (!api->wait_forever)
                (void) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        (void) setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        if (asprintf(&request, "%s %s HTTP/1.1\r\nHost: solocron\r\nConnection: close\r\n"
                     "Content-Length: 0\r\n%s%s%s%s\r\n", method, target,
                     token ? "Authorization: Bearer " : "", token ?: "", token ? "\r\n" : "",
                     extra_headers ?: "") < 0) {
                (void) close(fd);
                return -ENOMEM;
        }
        r = send_all(fd, request, strlen(request));
        if (r >= 0)
                r = read_all(fd, &answer, &size);
        (void) close(fd);
        if (r < 0) {
                fprintf(stderr, "solocron: no answer from '%s': %s\n", where, strerror(-r));
                return r;
        }
        body = strstr(answer, "\r\n\r\n");
        if (strncmp(answer, "HTTP/1.1 ", 9) != 0 || !body || answer[12] != ' ') {
                fprintf(stderr, "solocron: '%s' does not answer like solocron\n", where);
                return -EBADMSG;
        }
        answer[12] = 0;
        if (parse_uint64(answer + 9, 999, &status) < 0)
                return -EBADMSG;
        *ret = (CliAnswer) { .status = (int) status };
        ret->body = strdup(body + 4);
        return ret->body ? 0 : -ENOMEM;
}

void cli_answer_done(CliAnswer *a) {
        free(a->body);
        *a = (CliAnswer) {};
}

void cli_api_defaults(CliApi *api) {
        const char *env = getenv("SOLOCRON_API");

        *api = (CliApi) { .socket = CLI_API_DEFAULT_SOCKET };
        if (env && strncmp(env, "http://", 7) == 0)
                api->url = env;
        else if (env && *env)
                api->socket = env;
        api->token_file = getenv("SOLOCRON_API_TOKEN_FILE");
}

int cli_api_args(int argc, char **argv, const char *usage, unsigned opts, int min_args,
                 int max_args, CliApiArgs *ret) {
        static const struct option options[] = {
                { "json", no_argument, NULL, 'j' },
                { "wait", no_argument, NULL, 'w' },
                { "key", required_argument, NULL, 'k' },
                { "since", required_argument, NULL, 'S' },
                { "limit", required_argument, NULL, 'n' },
                { "socket", required_argument, NULL, 's' },
                { "url", required_argument, NULL, 'u' },
                { "token-file", required_argument, NULL, 't' },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        const char *cmd = argv[0];
        int o;

        *ret = (CliApiArgs) { .cmd = cmd };
        cli_api_defaults(&ret->api);
        optind = 1;
        while ((o = getopt_long(argc, argv, "hn:", options, NULL)) >= 0) {
                unsigned need = o == 'j' ? CLI_OPT_JSON : o == 'w' ? CLI_OPT_WAIT :
                                o == 'k' ? CLI_OPT_KEY : o == 'S' || o == 'n' ? CLI_OPT_SINCE : 0;

                if (need && !(opts & need)) {
                        fprintf(stderr, "solocron %s: unknown option '%s'\n", cmd,
                                argv[optind - 1]);
                        return EXIT_USAGE;
                }
                switch (o) {
                case 'j': ret->json = true; break;
                case 'w': ret->wait = true; break;
                case 'k': ret->key = optarg; break;
                case 'S': ret->since = optarg; break;
                case 'n': ret->limit = optarg; break;
                case 's': ret->api.socket = optarg; ret->api.url = NULL; break;
                case 'u': ret->api.url = optarg; break;
                case 't': ret->api.token_file = optarg; break;
                case 'h':
                        printf("Usage: solocron %s %s\n"
                               "  [--socket PATH | --url http://HOST:PORT [--token-file FILE]]\n",
                               cmd, usage);
                        return EXIT_OK;
                default:
                        return EXIT_USAGE;
                }
        }
        ret->args = argv + optind;
        ret->n_args = argc - optind;
        if (ret->n_args < min_args || ret->n_args > max_args) {
                fprintf(stderr, "Usage: solocron %s %s\n", cmd, usage);
                return EXIT_USAGE;
        }
        return -1;
}

const char *cli_answer_error(const CliAnswer *a, char *buf, size_t size) {
        json_t *doc = json_loads(a->body, 0, NULL);
        const char *e = json_string_value(json_object_get(doc, "error"));

        (void) snprintf(buf, size, "%s", e ? e : a->body);
        json_decref(doc);
        buf[strcspn(buf, "\n")] = 0;
        return buf;
}
