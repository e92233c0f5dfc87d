/* SPDX-License-Identifier: MIT */
/* The pure helpers of s3.h: reading S3's XML (elements, text, error bodies) and its dates.
 * No I/O, no state. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "parse.h"
#include "s3.h"
#include "s3_internal.h"
#include "timeutil.h"

int s3_parse_http_date(const char *s, int64_t *ret) {
        static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
        char wday[4], mon[4], zone[4];
        int d, y, hh, mm, ss, n = 0;
        const char *m;

        if (sscanf(s, "%3s, %2d %3s %4d %2d:%2d:%2d %3s%n", wday, &d, mon, &y, &hh, &mm, &ss,
                   zone, &n) != 8 || s[n] != 0)
                return -EINVAL;
        m = strstr(months, mon);
        if (strlen(mon) != 3 || !m || (m - months) % 3 != 0 || strcmp(zone, "GMT") != 0 ||
            wday[3] != 0 || strlen(wday) != 3 || s[3] != ',')
                return -EINVAL;
        if (d < 1 || d > days_in_month(y, (int) (m - months) / 3 + 1) || hh > 23 || mm > 59 ||
            ss > 60 || hh < 0 || mm < 0 || ss < 0)
                return -EINVAL;
        *ret = days_from_civil(y, (int) (m - months) / 3 + 1, d) * 86400 + hh * 3600 + mm * 60 +
               ss;
        return 0;
}

int s3_parse_iso8601(const char *s, int64_t *ret) {
        char buf[40];
        size_t n = strlen(s);
        bool absolute;

        if (n >= sizeof(buf) || n < 20)
                return -EINVAL;
        memcpy(buf, s, n + 1);
        if (buf[19] == '.') {           /* drop fractional seconds: ".000Z" → "Z" */
                size_t d = strspn(buf + 20, "0123456789");

                memmove(buf + 19, buf + 20 + d, n - 20 - d + 1);
        }
        if (parse_timestamp(buf, ret, &absolute) < 0 || !absolute)
                return -EINVAL;
        return 0;
}

int s3_xml_element(const char **p, const char *end, const char *name, const char **ret_inner,
                   size_t *ret_len) {
        size_t n = strlen(name);
        const char *s = *p;

        for (;;) {
                const char *open = memchr(s, '<', (size_t) (end - s)), *gt, *close;

                if (!open || (size_t) (end - open) < n + 2)
                        return 0;
                s = open + 1;
                if (strncmp(s, name, n) != 0 || !strchr(" \t\r\n/>", s[n]))
                        continue;
                gt = memchr(s, '>', (size_t) (end - s));
                if (!gt)
                        return -EBADMSG;
                if (gt[-1] == '/') {            /* <name/> */
                        *ret_inner = gt;
                        *ret_len = 0;
                        *p = gt + 1;
                        return 1;
                }
                for (close = gt + 1;; close++) {
                        close = memchr(close, '<', (size_t) (end - close));
                        if (!close || (size_t) (end - close) < n + 3)
                                return -EBADMSG;
                        if (close[1] == '/' && strncmp(close + 2, name, n) == 0 &&
                            close[2 + n] == '>')
                                break;
                }
                *ret_inner = gt + 1;
                *ret_len = (size_t) (close - (gt + 1));
                *p = close + n + 3;
                return 1;
        }
}

int s3_xml_text(const char *s, size_t len, char **ret) {
        static const struct {
                const char *name;
                char ch;
        } entities[] = { { "amp;", '&' }, { "lt;", '<' }, { "gt;", '>' }, { "quot;", '"' },
                         { "apos;", '\'' } };
        _cleanup_free_ char *out = malloc(len + 1);
        size_t o = 0;

        if (!out)
                return -ENOMEM;
        for (size_t i = 0; i < len;) {
                bool ok = false;

                if (s[i] == '<')
                        return -EBADMSG;
                if (s[i] != '&') {
                        out[o++] = s[i++];
                        continue;
                }
                for (size_t e = 0; e < ELEMENTSOF(entities); e++) {
                        size_t n = strlen(entities[e].name);

                        if (len - i - 1 >= n && strncmp(s + i + 1, entities[e].name, n) == 0) {
                                out[o++] = entities[e].ch;
                                i += 1 + n;
                                ok = true;
                                break;
                        }
                }
                if (!ok && i + 2 < len && s[i + 1] == '#') {
                        bool hex = s[i + 2] == 'x';
                        size_t j = i + 2 + hex;
                        unsigned v = 0;

                        for (; j < len && j < i + 10 && s[j] != ';'; j++) {
                                int dig = s[j] >= '0' && s[j] <= '9' ? s[j] - '0' :
                                          hex && s[j] >= 'a' && s[j] <= 'f' ? s[j] - 'a' + 10 :
                                          hex && s[j] >= 'A' && s[j] <= 'F' ? s[j] - 'A' + 10 : -1;

                                if (dig < 0)
                                        return -EBADMSG;
                                v = v * (hex ? 16 : 10) + (unsigned) dig;
                        }
                        if (j >= len || s[j] != ';' || v == 0 || v > 127)
                                return -EBADMSG;
                        out[o++] = (char) v;
                        i = j + 1;
                        ok = true;
                }
                if (!ok)
                        return -EBADMSG;
        }
        out[o] = 0;
        *ret = TAKE_PTR(out);
        return 0;
}

/* The code and message of an S3 error body; false if it is not S3 error XML. */
bool s3_error_parse(const HttpResponse *resp, char *code, size_t code_size, char *message,
                    size_t message_size, int64_t *ret_server_time) {
        const char *p = resp->body, *end = resp->body + resp->body_size, *inner, *in_code;
        _cleanup_free_ char *c = NULL, *m = NULL, *t = NULL;
        size_t len, code_len;

        if (s3_xml_element(&p, end, "Error", &inner, &len) != 1)
                return false;
        p = inner;
        end = inner + len;
        if (s3_xml_element(&p, end, "Code", &in_code, &code_len) != 1 ||
            s3_xml_text(in_code, code_len, &c) < 0 || !*c || strlen(c) >= code_size)
                return false;
        for (const char *s = c; *s; s++)
                if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
                      (*s >= '0' && *s <= '9') || *s == '.' || *s == '_' || *s == '-'))
                        return false;
        memcpy(code, c, strlen(c) + 1);
        p = inner;
        if (s3_xml_element(&p, end, "Message", &inner, &len) == 1 &&
            s3_xml_text(inner, len, &m) == 0) {
                for (char *s = m; *s; s++)
                        if (*s < ' ' || *s > '~')
                                *s = ' ';
                (void) snprintf(message, message_size, "%.*s", MESSAGE_FROM_SERVER_MAX, m);
        }
        p = resp->body;
        if (s3_xml_element(&p, resp->body + resp->body_size, "ServerTime", &inner, &len) == 1 &&
            s3_xml_text(inner, len, &t) == 0)
                (void) s3_parse_iso8601(t, ret_server_time);
        return true;
}
