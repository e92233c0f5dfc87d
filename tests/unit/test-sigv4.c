/* SPDX-License-Identifier: MIT */
#include <errno.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "macro.h"
#include "sigv4.h"
#include "tests.h"

/* The hashes from libcrypto, linked (the daemon loads it: test-cryptolib). */
static int test_sha256(const void *data, size_t len, uint8_t ret[static SIGV4_SHA256_LEN]) {
        unsigned n = 0;

        return EVP_Digest(data, len, ret, &n, EVP_sha256(), NULL) == 1 && n == 32 ? 0 : -EIO;
}

static int test_hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
                            uint8_t ret[static SIGV4_SHA256_LEN]) {
        unsigned n = 0;

        return HMAC(EVP_sha256(), key, (int) key_len, data, len, ret, &n) && n == 32 ? 0 : -EIO;
}

static const SigV4Crypto crypto = { .sha256 = test_sha256, .hmac_sha256 = test_hmac_sha256 };

/* Expected values come from two AWS documents, copied verbatim:
 *
 * [S3] AWS S3 API Reference, "Signature Calculations for the Authorization Header:
 *      Transferring Payload in a Single Chunk (AWS Signature Version 4)",
 *      https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html,
 *      section "Examples: Signature Calculations" (GET Object, PUT Object, GET Bucket
 *      Lifecycle, Get Bucket (List Objects)).
 * [SUITE] The AWS Signature Version 4 test suite (aws-sig-v4-test-suite, formerly at
 *      https://docs.aws.amazon.com/general/latest/gr/signature-v4-test-suite.html): cases
 *      post-sts-token/post-sts-header-before, get-header-value-trim, get-utf8,
 *      get-vanilla-utf8-query and get-vanilla-query-order-value. That suite signs for
 *      service "service" without x-amz-content-sha256, hence SIGV4_NO_CONTENT_SHA256.
 *
 * Expected URI encodings of odd keys in uri_encoding are not from a document: they apply
 * the encoding rule of [S3] ("URI encode every byte" except A-Za-z0-9-._~, and '/' in the
 * object key name) byte by byte. */

/* [S3] */
#define S3_AKID "AKIAIOSFODNN7EXAMPLE"
#define S3_SECRET "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define S3_HOST "examplebucket.s3.amazonaws.com"
#define S3_NOW INT64_C(1369353600)      /* 20130524T000000Z */
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* [SUITE] */
#define SUITE_AKID "AKIDEXAMPLE"
#define SUITE_SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define SUITE_HOST "example.amazonaws.com"
#define SUITE_NOW INT64_C(1440938160)   /* 20150830T123600Z */
#define SUITE_TOKEN                                                                          \
        "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicR" \
        "XmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKs" \
        "burEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u" \
        "0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA=" \
        "="

static const SigV4Credentials s3_creds = {
        .access_key_id = S3_AKID,
        .secret_access_key = S3_SECRET,
};

static const SigV4Credentials suite_creds = {
        .access_key_id = SUITE_AKID,
        .secret_access_key = SUITE_SECRET,
};

static void assert_no_secret(const SigV4Signature *s, const char *secret) {
        ASSERT_TRUE(!strstr(s->authorization, secret));
        ASSERT_TRUE(!strstr(s->canonical_request, secret));
        ASSERT_TRUE(!strstr(s->string_to_sign, secret));
}

/* [S3] Example: GET Object. */
static const char s3_get_object_creq[] =
        "GET\n"
        "/test.txt\n"
        "\n"
        "host:examplebucket.s3.amazonaws.com\n"
        "range:bytes=0-9\n"
        "x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
        "x-amz-date:20130524T000000Z\n"
        "\n"
        "host;range;x-amz-content-sha256;x-amz-date\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
static const char s3_get_object_sts[] =
        "AWS4-HMAC-SHA256\n"
        "20130524T000000Z\n"
        "20130524/us-east-1/s3/aws4_request\n"
        "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972";
static const char s3_get_object_signature[] =
        "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41";
static const char s3_get_object_auth[] =
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41";

TEST(s3_get_object) {
        const SigV4Header headers[] = { { "Range", "bytes=0-9" } };
        SigV4Request req = {
                .method = "GET",
                .host = S3_HOST,
                .path = "/test.txt",
                .headers = headers,
                .n_headers = ELEMENTSOF(headers),
                .payload_sha256 = EMPTY_SHA256,
        };
        SigV4Signature s = {};

        ASSERT_OK(sigv4_sign(&crypto, &req, &s3_creds, "us-east-1", "s3", S3_NOW, &s));
        ASSERT_STREQ(s.canonical_request, s3_get_object_creq);
        ASSERT_STREQ(s.string_to_sign, s3_get_object_sts);
        ASSERT_STREQ(s.signature, s3_get_object_signature);
        ASSERT_STREQ(s.authorization, s3_get_object_auth);
        ASSERT_STREQ(s.amz_date, "20130524T000000Z");
        ASSERT_STREQ(s.content_sha256, EMPTY_SHA256);
        ASSERT_TRUE(!s.security_token);
        assert_no_secret(&s, S3_SECRET);
        sigv4_signature_done(&s);

        /* The same request with the path given already encoded. */
        req.flags = SIGV4_PATH_ENCODED;
        ASSERT_OK(sigv4_sign(&crypto, &req, &s3_creds, "us-east-1", "s3", S3_NOW, &s));
        ASSERT_STREQ(s.authorization, s3_get_object_auth);
        sigv4_signature_done(&s);
        sigv4_signature_done(&s);       /* twice is harmless */
}

/* [S3] Example: PUT Object. */
TEST(s3_put_object) {
        static const char body[] = "Welcome to Amazon S3.";
        static const char creq[] =
                "PUT\n"
                "/test%24file.text\n"
                "\n"
                "date:Fri, 24 May 2013 00:00:00 GMT\n"
                "host:examplebucket.s3.amazonaws.com\n"
                "x-amz-content-sha256:"
                        "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072\n"
                "x-amz-date:20130524T000000Z\n"
                "x-amz-storage-class:REDUCED_REDUNDANCY\n"
                "\n"
                "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class\n"
                "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072";
        static const char sts[] =
                "AWS4-HMAC-SHA256\n"
                "20130524T000000Z\n"
                "20130524/us-east-1/s3/aws4_request\n"
                "9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d";
        static const char auth[] =
                "AWS4-HMAC-SHA256 "
                "Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
                "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class,"
                "Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd";
        /* Given in another order and case than signed: sorting and lowercasing is ours. */
        const SigV4Header headers[] = {
                { "x-amz-storage-class", "REDUCED_REDUNDANCY" },
                { "Date", "Fri, 24 May 2013 00:00:00 GMT" },
        };
        char hash[SIGV4_SHA256_HEX_MAX];
        SigV4Signature s = {};

        ASSERT_OK(sigv4_sha256_hex(&crypto, body, strlen(body), hash));
        ASSERT_STREQ(hash, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");

        const SigV4Request req = {
                .method = "PUT",
                .host = S3_HOST,
                .path = "/test$file.text",
                .headers = headers,
                .n_headers = ELEMENTSOF(headers),
                .payload_sha256 = hash,
        };

        ASSERT_OK(sigv4_sign(&crypto, &req, &s3_creds, "us-east-1", "s3", S3_NOW, &s));
        ASSERT_STREQ(s.canonical_request, creq);
        ASSERT_STREQ(s.string_to_sign, sts);
        ASSERT_STREQ(s.signature,
                     "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
        ASSERT_STREQ(s.authorization, auth);
        ASSERT_STREQ(s.content_sha256, hash);
        assert_no_secret(&s, S3_SECRET);
        sigv4_signature_done(&s);
}

/* [S3] Example: GET Bucket Lifecycle. */
TEST(s3_get_bucket_lifecycle) {
        static const char creq[] =
                "GET\n"
                "/\n"
                "lifecycle=\n"
                "host:examplebucket.s3.amazonaws.com\n"
                "x-amz-content-sha256:"
                        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
                "x-amz-date:20130524T000000Z\n"
                "\n"
                "host;x-amz-content-sha256;x-amz-date\n"
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        static const char sts[] =
                "AWS4-HMAC-SHA256\n"
                "20130524T000000Z\n"
                "20130524/us-east-1/s3/aws4_request\n"
                "9766c798316ff2757b517bc739a67f6213b4ab36dd5da2f94eaebf79c77395ca";
        static const char auth[] =
                "AWS4-HMAC-SHA256 "
                "Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
                "SignedHeaders=host;x-amz-content-sha256;x-amz-date,"
                "Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543";
        const SigV4Param bare[] = { { "lifecycle", NULL } };
        const SigV4Param empty[] = { { "lifecycle", "" } };
        SigV4Request req = {
                .method = "GET",
                .host = S3_HOST,
                .path = "/",
                .query = bare,
                .n_query = ELEMENTSOF(bare),
                .payload_sha256 = EMPTY_SHA256,
        };
        SigV4Signature s = {};

        ASSERT_OK(sigv4_sign(&crypto, &req, &s3_creds, "us-east-1", "s3", S3_NOW, &s));
        ASSERT_STREQ(s.canonical_request, creq);
        ASSERT_STREQ(s.string_to_sign, sts);
        ASSERT_STREQ(s.authorization, auth);
        sigv4_signature_done(&s);

        /* "?lifecycle" and "?lifecycle=" sign the same. */
        req.query = empty;
        ASSERT_OK(sigv4_sign(&crypto, &req, &s3_creds, "us-east-1", "s3", S3_NOW, &s));
        ASSERT_STREQ(s.authorization, auth);
        sigv4_signature_done(&s);
}

/* [S3] Example: Get Bucket (List Objects). */
TEST(s3_list_objects) {
        static const char creq[] =
                "GET\n"
                "/\n"
                "max-keys=2&prefix=J\n"
                "host:examplebucket.s3.amazonaws.com\n"
                "x-amz-content-sha256:"
                        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
                "x-amz-date:20130524T000000Z\n"
                "\n"
                "host;x-amz-content-sha256;x-amz-date\n"
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        static const char sts[] =
                "AWS4-HMAC-SHA256\n"
                "20130524T000000Z\n"
                "20130524/us-east-1/s3/aws4_request\n"
                "df57d21db20da04d7fa30298dd4488ba3a2b47ca3a489c74750e0f1e7df1b9b7";
        static const char auth[] =
                "AWS4-HMAC-SHA256 "
                "Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
                "SignedHeaders=host;x-amz-content-sha256;x-amz-date,"
                "Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7";
        /* Out of order on purpose: the canonical query string is sorted. */
        const SigV4Param query[] = { { "prefix", "J" }, { "max-keys", "2" } };
        const SigV4Request req = {
                .method = "GET",
                .host = S3_HOST,
                .path = "/",
                .query = query,
                .n_query = ELEMENTSOF(query),
                .payload_sha256 = EMPTY_SHA256,
        };
        SigV4Signature s = {};

        ASSERT_OK(sigv4_sign(&crypto, &req, &s3_creds, "us-east-1", "s3", S3_NOW, &s));
        ASSERT_STREQ(s.canonical_request, creq);
        ASSERT_STREQ(s.string_to_sign, sts);
        ASSERT_STREQ(s.signature,
                     "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
        ASSERT_STREQ(s.authorization, auth);
        sigv4_signature_done(&s);
}

/* [SUITE] post-sts-token/post-sts-header-before: the token is a signed header. */
TEST(suite_session_token) {
        const SigV4Credentials creds = {
                .access_key_id = SUITE_AKID,
                .secret_access_key = SUITE_SECRET,
                .session_token = SUITE_TOKEN,
        };
        const SigV4Request req = {
                .method = "POST",
                .host = SUITE_HOST,
                .path = "/",
                .payload_sha256 = EMPTY_SHA256,
                .flags = SIGV4_NO_CONTENT_SHA256,
        };
        static const char sts[] =
                "AWS4-HMAC-SHA256\n"
                "20150830T123600Z\n"
                "20150830/us-east-1/service/aws4_request\n"
                "c237e1b440d4c63c32ca95b5b99481081cb7b13c7e40434868e71567c1a882f6";
        SigV4Signature s = {};

        ASSERT_OK(sigv4_sign(&crypto, &req, &creds, "us-east-1", "service", SUITE_NOW, &s));
        ASSERT_STREQ(s.string_to_sign, sts);
        ASSERT_STREQ(s.signature,
                     "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead");
        ASSERT_TRUE(strstr(s.authorization,
                           ",SignedHeaders=host;x-amz-date;x-amz-security-token,"));
        ASSERT_STREQ(s.security_token, SUITE_TOKEN);
        assert_no_secret(&s, SUITE_SECRET);
        sigv4_signature_done(&s);
}

/* The S3 GET Object request of [S3] with a session token: the token is signed, so the
 * signature changes, and the caller is told to send it. (No document has this vector; the
 * canonical form follows the rules checked above.) */
TEST(s3_session_token) {
        const SigV4Credentials creds = {
                .access_key_id = S3_AKID,
                .secret_access_key = S3_SECRET,
                .session_token = SUITE_TOKEN,
        };
        const SigV4Credentials empty_token = {
                .access_key_id = S3_AKID,
                .secret_access_key = S3_SECRET,
                .session_token = "",
        };
        const SigV4Header headers[] = { { "Range", "bytes=0-9" } };
        const SigV4Request req = {
                .method = "GET",
                .host = S3_HOST,
                .path = "/test.txt",
                .headers = headers,
                .n_headers = ELEMENTSOF(headers),
                .payload_sha256 = EMPTY_SHA256,
        };
        SigV4Signature s = {};

        ASSERT_OK(sigv4_sign(&crypto, &req, &creds, "us-east-1", "s3", S3_NOW, &s));
        ASSERT_STREQ(s.security_token, SUITE_TOKEN);
        ASSERT_TRUE(strstr(s.canonical_request,
                           "\nx-amz-date:20130524T000000Z\nx-amz-security-token:" SUITE_TOKEN "\n\n"
                           "host;range;x-amz-content-sha256;x-amz-date;x-amz-security-token\n"));
        ASSERT_TRUE(strstr(s.authorization,
                           ",SignedHeaders=host;range;x-amz-content-sha256;x-amz-date;"
                           "x-amz-security-token,Signature="));
        ASSERT_TRUE(strcmp(s.signature, s3_get_object_signature) != 0);
        assert_no_secret(&s, S3_SECRET);
        sigv4_signature_done(&s);

        /* An empty token is no token. */
        ASSERT_OK(sigv4_sign(&crypto, &req, &empty_token, "us-east-1", "s3", S3_NOW, &s));
        ASSERT_TRUE(!s.security_token);
        ASSERT_STREQ(s.authorization, s3_get_object_auth);
        sigv4_signature_done(&s);
}

/* [SUITE] get-header-value-trim: ends trimmed, inner runs of spaces collapsed (also inside
 * quotes). The second round adds more spaces; the signed form must not change. */
TEST(suite_header_value_trim) {
        static const char creq[] =
                "GET\n"
                "/\n"
                "\n"
                "host:example.amazonaws.com\n"
                "my-header1:value1\n"
                "my-header2:\"a b c\"\n"
                "x-amz-date:20150830T123600Z\n"
                "\n"
                "host;my-header1;my-header2;x-amz-date\n"
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        static const char signature[] =
                "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736";
        static const SigV4Header as_documented[] = {
                { "My-Header1", " value1" },
                { "My-Header2", "\"a   b   c\"" },
        };
        static const SigV4Header more_spaces[] = {
                { "My-Header2", "   \"a b       c\"    " },
                { "my-header1", "value1   " },
        };
        const SigV4Header *variants[] = { as_documented, more_spaces };
        SigV4Signature s = {};

        for (size_t i = 0; i < ELEMENTSOF(variants); i++) {
                const SigV4Request req = {
                        .method = "GET",
                        .host = SUITE_HOST,
                        .path = "/",
                        .headers = variants[i],
                        .n_headers = 2,
                        .payload_sha256 = EMPTY_SHA256,
                        .flags = SIGV4_NO_CONTENT_SHA256,
                };

                ASSERT_OK(sigv4_sign(&crypto, &req, &suite_creds, "us-east-1", "service", SUITE_NOW, &s));
                ASSERT_STREQ(s.canonical_request, creq);
                ASSERT_STREQ(s.signature, signature);
                sigv4_signature_done(&s);
        }
}

/* [SUITE] get-utf8: a non-ASCII path is encoded byte by byte in uppercase hex. */
TEST(suite_utf8_path) {
        static const char creq[] =
                "GET\n"
                "/%E1%88%B4\n"
                "\n"
                "host:example.amazonaws.com\n"
                "x-amz-date:20150830T123600Z\n"
                "\n"
                "host;x-amz-date\n"
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        SigV4Request req = {
                .method = "GET",
                .host = SUITE_HOST,
                .path = "/\xe1\x88\xb4",        /* U+1234 */
                .payload_sha256 = EMPTY_SHA256,
                .flags = SIGV4_NO_CONTENT_SHA256,
        };
        SigV4Signature s = {};

        ASSERT_OK(sigv4_sign(&crypto, &req, &suite_creds, "us-east-1", "service", SUITE_NOW, &s));
        ASSERT_STREQ(s.canonical_request, creq);
        ASSERT_STREQ(s.signature,
                     "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85");
        sigv4_signature_done(&s);

        req.path = "/%E1%88%B4";
        req.flags |= SIGV4_PATH_ENCODED;
        ASSERT_OK(sigv4_sign(&crypto, &req, &suite_creds, "us-east-1", "service", SUITE_NOW, &s));
        ASSERT_STREQ(s.canonical_request, creq);
        sigv4_signature_done(&s);
}

/* [SUITE] get-vanilla-utf8-query and get-vanilla-query-order-value. */
TEST(suite_query) {
        const SigV4Param utf8[] = { { "\xe1\x88\xb4", "bar" } };
        const SigV4Param order[] = { { "Param1", "value2" }, { "Param1", "value1" } };
        SigV4Request req = {
                .method = "GET",
                .host = SUITE_HOST,
                .path = "/",
                .query = utf8,
                .n_query = ELEMENTSOF(utf8),
                .payload_sha256 = EMPTY_SHA256,
                .flags = SIGV4_NO_CONTENT_SHA256,
        };
        SigV4Signature s = {};

        ASSERT_OK(sigv4_sign(&crypto, &req, &suite_creds, "us-east-1", "service", SUITE_NOW, &s));
        ASSERT_STREQ(s.signature,
                     "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04");
        sigv4_signature_done(&s);

        req.query = order;
        req.n_query = ELEMENTSOF(order);
        ASSERT_OK(sigv4_sign(&crypto, &req, &suite_creds, "us-east-1", "service", SUITE_NOW, &s));
        ASSERT_STREQ(s.signature,
                     "5772eed61e12b33fae39ee5e7012498b51d56abc0abb7c60486157bd471c4694");
        sigv4_signature_done(&s);
}

TEST(sha256_hex) {
        char out[SIGV4_SHA256_HEX_MAX];

        ASSERT_OK(sigv4_sha256_hex(&crypto, "", 0, out));
        ASSERT_STREQ(out, EMPTY_SHA256);
        ASSERT_OK(sigv4_sha256_hex(&crypto, NULL, 0, out));
        ASSERT_STREQ(out, EMPTY_SHA256);
        ASSERT_EQ(sigv4_sha256_hex(&crypto, NULL, 1, out), -EINVAL);
}

TEST(uri_encoding) {
        static const struct {
                const char *in, *path, *query;
        } cases[] = {
                { "", "", "" },
                { "AZaz09-._~", "AZaz09-._~", "AZaz09-._~" },
                { "my file.txt", "my%20file.txt", "my%20file.txt" },
                { "a  b", "a%20%20b", "a%20%20b" },
                { "a+b=c", "a%2Bb%3Dc", "a%2Bb%3Dc" },
                { "dir/sub/key", "dir/sub/key", "dir%2Fsub%2Fkey" },
                { "/lease/job-1", "/lease/job-1", "%2Flease%2Fjob-1" },
                { "\xe1\x88\xb4", "%E1%88%B4", "%E1%88%B4" },          /* U+1234 */
                { "caf\xc3\xa9 \xe2\x82\xac", "caf%C3%A9%20%E2%82%AC", "caf%C3%A9%20%E2%82%AC" },
                { "$&,:;@?#%*!'()[]", "%24%26%2C%3A%3B%40%3F%23%25%2A%21%27%28%29%5B%5D",
                  "%24%26%2C%3A%3B%40%3F%23%25%2A%21%27%28%29%5B%5D" },
                { "\x01\x7f\xff", "%01%7F%FF", "%01%7F%FF" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *p = NULL, *q = NULL;

                ASSERT_OK(sigv4_encode_path(cases[i].in, &p));
                ASSERT_STREQ(p, cases[i].path);
                ASSERT_OK(sigv4_encode_query(cases[i].in, &q));
                ASSERT_STREQ(q, cases[i].query);
        }

        /* Bounds. */
        char *big = malloc(SIGV4_FIELD_MAX + 2);
        char *p = NULL;

        ASSERT_TRUE(big);
        memset(big, ' ', SIGV4_FIELD_MAX);
        big[SIGV4_FIELD_MAX] = '\0';
        ASSERT_OK(sigv4_encode_path(big, &p));
        ASSERT_EQ(strlen(p), 3 * SIGV4_FIELD_MAX);
        free(p);
        p = NULL;
        big[SIGV4_FIELD_MAX] = ' ';
        big[SIGV4_FIELD_MAX + 1] = '\0';
        ASSERT_EQ(sigv4_encode_path(big, &p), -EINVAL);
        ASSERT_EQ(sigv4_encode_query(big, &p), -EINVAL);
        ASSERT_TRUE(!p);
        ASSERT_EQ(sigv4_encode_query(NULL, &p), -EINVAL);
        free(big);
}

/* An odd S3 key signed through the raw path, the encoded path and sigv4_encode_path(): all
 * three give the same canonical URI. */
TEST(odd_key_paths) {
        static const char raw[] = "/bucket/a b+c=d~e/\xc3\xa9t\xc3\xa9.txt";
        static const char encoded[] = "/bucket/a%20b%2Bc%3Dd~e/%C3%A9t%C3%A9.txt";
        static const char prefix[] = "PUT\n/bucket/a%20b%2Bc%3Dd~e/%C3%A9t%C3%A9.txt\n\n";
        _cleanup_free_ char *mine = NULL;
        SigV4Request req = {
                .method = "PUT",
                .host = "127.0.0.1:9000",
                .path = raw,
                .payload_sha256 = SIGV4_UNSIGNED_PAYLOAD,
        };
        SigV4Signature a = {}, b = {};

        ASSERT_OK(sigv4_encode_path(raw, &mine));
        ASSERT_STREQ(mine, encoded);

        ASSERT_OK(sigv4_sign(&crypto, &req, &s3_creds, "us-east-1", "s3", S3_NOW, &a));
        ASSERT_TRUE(strncmp(a.canonical_request, prefix, strlen(prefix)) == 0);
        ASSERT_TRUE(strstr(a.canonical_request, "\nx-amz-content-sha256:UNSIGNED-PAYLOAD\n"));
        ASSERT_TRUE(strstr(a.canonical_request, "\nhost:127.0.0.1:9000\n"));
        ASSERT_STREQ(a.content_sha256, SIGV4_UNSIGNED_PAYLOAD);

        req.path = mine;
        req.flags = SIGV4_PATH_ENCODED;
        ASSERT_OK(sigv4_sign(&crypto, &req, &s3_creds, "us-east-1", "s3", S3_NOW, &b));
        ASSERT_STREQ(a.canonical_request, b.canonical_request);
        ASSERT_STREQ(a.authorization, b.authorization);
        sigv4_signature_done(&a);
        sigv4_signature_done(&b);
}

TEST(amz_date) {
        const SigV4Request req = {
                .method = "GET",
                .host = S3_HOST,
                .path = "/",
                .payload_sha256 = EMPTY_SHA256,
        };
        SigV4Signature s = {};

        ASSERT_OK(sigv4_sign(&crypto, &req, &s3_creds, "us-east-1", "s3", 0, &s));
        ASSERT_STREQ(s.amz_date, "19700101T000000Z");
        ASSERT_TRUE(strstr(s.authorization, "/19700101/us-east-1/s3/aws4_request,"));
        sigv4_signature_done(&s);

        ASSERT_OK(sigv4_sign(&crypto, &req, &s3_creds, "us-east-1", "s3", SIGV4_TIME_MAX, &s));
        ASSERT_STREQ(s.amz_date, "99991231T235959Z");
        sigv4_signature_done(&s);

        ASSERT_OK(sigv4_sign(&crypto, &req, &s3_creds, "us-east-1", "s3", INT64_C(951827696), &s));
        ASSERT_STREQ(s.amz_date, "20000229T123456Z");
        sigv4_signature_done(&s);
}

/* Every bad input is -EINVAL and leaves *ret alone. */
TEST(errors) {
        char long_name[SIGV4_NAME_MAX + 2], long_scope[SIGV4_SCOPE_MAX + 2];
        const SigV4Header ok_headers[] = { { "Range", "bytes=0-9" } };
        SigV4Header many_headers[SIGV4_HEADERS_MAX + 1];
        SigV4Param many_params[SIGV4_QUERY_MAX + 1];
        char names[SIGV4_HEADERS_MAX + 1][16];

        memset(long_name, 'a', sizeof(long_name) - 1);
        long_name[sizeof(long_name) - 1] = '\0';
        memset(long_scope, 'a', sizeof(long_scope) - 1);
        long_scope[sizeof(long_scope) - 1] = '\0';
        for (size_t i = 0; i < ELEMENTSOF(many_headers); i++) {
                (void) snprintf(names[i], sizeof(names[i]), "x-h%zu", i);
                many_headers[i] = (SigV4Header) { names[i], "v" };
                many_params[i] = (SigV4Param) { names[i], "v" };
        }

        static const struct {
                const char *name;
                SigV4Header h;
        } bad_headers[] = {
                { "reserved host", { "Host", "x" } },
                { "reserved date", { "X-Amz-Date", "20130524T000000Z" } },
                { "reserved sha", { "x-amz-content-sha256", EMPTY_SHA256 } },
                { "reserved token", { "X-Amz-Security-Token", "t" } },
                { "reserved authorization", { "Authorization", "x" } },
                { "empty name", { "", "x" } },
                { "space in name", { "my header", "x" } },
                { "colon in name", { "my:header", "x" } },
                { "CRLF in value", { "x-a", "a\r\nx-amz-date: 1" } },
                { "LF in value", { "x-a", "a\nb" } },
                { "tab in value", { "x-a", "a\tb" } },
                { "DEL in value", { "x-a", "a\x7f" } },
                { "NULL name", { NULL, "x" } },
                { "NULL value", { "x-a", NULL } },
        };
        static const struct {
                const char *name;
                SigV4Param p;
        } bad_params[] = {
                { "empty key", { "", "v" } },
                { "NULL key", { NULL, "v" } },
        };
        static const char *const bad_encoded_paths[] = {
                "", "x", "/a b", "/%2f", "/%2", "/%", "/%G0", "/a+b", "/\xc3\xa9",
        };
        static const char *const bad_hashes[] = {
                "",
                "unsigned-payload",
                "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85",
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b8555",
                "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        };

        const SigV4Request good = {
                .method = "GET",
                .host = S3_HOST,
                .path = "/test.txt",
                .headers = ok_headers,
                .n_headers = ELEMENTSOF(ok_headers),
                .payload_sha256 = EMPTY_SHA256,
        };
        SigV4Signature sentinel = { .amz_date = "untouched" }, s = sentinel;
        SigV4Request req;
        SigV4Credentials c;

#define EXPECT_EINVAL(req_, creds_, region_, service_, now_)                                  \
        do {                                                                                   \
                ASSERT_EQ(sigv4_sign(&crypto, req_, creds_, region_, service_, now_, &s), -EINVAL);     \
                ASSERT_STREQ(s.amz_date, "untouched");                                         \
                ASSERT_TRUE(!s.authorization);                                                 \
        } while (0)

        /* Sanity: the base request is good. */
        ASSERT_OK(sigv4_sign(&crypto, &good, &s3_creds, "us-east-1", "s3", S3_NOW, &s));
        sigv4_signature_done(&s);
        s = sentinel;

        EXPECT_EINVAL(NULL, &s3_creds, "us-east-1", "s3", S3_NOW);
        EXPECT_EINVAL(&good, NULL, "us-east-1", "s3", S3_NOW);

        /* Method. */
        req = good, req.method = "get";
        EXPECT_EINVAL(&req, &s3_creds, "us-east-1", "s3", S3_NOW);
        req = good, req.method = "";
        EXPECT_EINVAL(&req, &s3_creds, "us-east-1", "s3", S3_NOW);
        req = good, req.method = "GETGETGETGETGETGE";
        EXPECT_EINVAL(&req, &s3_creds, "us-east-1", "s3", S3_NOW);
        req = good, req.method = NULL;
        EXPECT_EINVAL(&req, &s3_creds, "us-east-1", "s3", S3_NOW);

        /* Host. */
        req = good, req.host = "";
        EXPECT_EINVAL(&req, &s3_creds, "us-east-1", "s3", S3_NOW);
        req = good, req.host = "example bucket";
        EXPECT_EINVAL(&req, &s3_creds, "us-east-1", "s3", S3_NOW);
        req = good, req.host = "h\r\nx: y";
        EXPECT_EINVAL(&req, &s3_creds, "us-east-1", "s3", S3_NOW);

        /* Path. */
        req = good, req.path = "test.txt";
        EXPECT_EINVAL(&req, &s3_creds, "us-east-1", "s3", S3_NOW);
        req = good, req.path = "";
        EXPECT_EINVAL(&req, &s3_creds, "us-east-1", "s3", S3_NOW);
        req = good, req.path = NULL;
        EXPECT_EINVAL(&req, &s3_creds, "us-east-1", "s3", S3_NOW);
        for (size_t i = 0; i < ELEMENTSOF(bad_encoded_paths); i++) {
                req = good, req.path = bad_encoded_paths[i], req.flags = SIGV4_PATH_ENCODED;
                EXPECT_EINVAL(&req, &s3_creds, "us-east-1", "s3", S3_NOW);
        }
        req = good, req.flags = 1 << 7;
        EXPECT_EINVAL(&req, &s3_creds, "us-east-1", "s3", S3_NOW);

        /* Payload hash. */
        for (size_t i = 0; i < ELEMENTSOF(bad_hashes); i++) {
                req = good, req.payload_sha256 = bad_hashes[i];
                EXPECT_EINVAL(&req, &s3_creds, "us-east-1", "s3", S3_NOW);
        }
        req = good, req.payload_sha256 = NULL;
        EXPECT_EINVAL(&req, &s3_creds, "us-east-1", "s3", S3_NOW);

        /* Headers. */
        for (size_t i = 0; i < ELEMENTSOF(bad_headers); i++) {
                req = good, req.headers = &bad_headers[i].h, req.n_headers = 1;
                if (sigv4_sign(&crypto, &req, &s3_creds, "us-east-1", "s3", S3_NOW, &s) != -EINVAL)
                        TEST_FAIL("header case '%s' was accepted", bad_headers[i].name);
                ASSERT_STREQ(s.amz_date, "untouched");
        }
        const SigV4Header dup[] = { { "Range", "bytes=0-9" }, { "range", "bytes=0-1" } };
        req = good, req.headers = dup, req.n_headers = ELEMENTSOF(dup);
        EXPECT_EINVAL(&req, &s3_creds, "us-east-1", "s3", S3_NOW);
        const SigV4Header long_header[] = { { long_name, "x" } };
        req = good, req.headers = long_header, req.n_headers = 1;
        EXPECT_EINVAL(&req, &s3_creds, "us-east-1", "s3", S3_NOW);
        req = good, req.headers = many_headers, req.n_headers = SIGV4_HEADERS_MAX + 1;
        EXPECT_EINVAL(&req, &s3_creds, "us-east-1", "s3", S3_NOW);
        req = good, req.headers = NULL, req.n_headers = 1;
        EXPECT_EINVAL(&req, &s3_creds, "us-east-1", "s3", S3_NOW);
        req = good, req.headers = many_headers, req.n_headers = SIGV4_HEADERS_MAX;
        ASSERT_OK(sigv4_sign(&crypto, &req, &s3_creds, "us-east-1", "s3", S3_NOW, &s));
        sigv4_signature_done(&s);
        s = sentinel;

        /* Query. */
        for (size_t i = 0; i < ELEMENTSOF(bad_params); i++) {
                req = good, req.query = &bad_params[i].p, req.n_query = 1;
                if (sigv4_sign(&crypto, &req, &s3_creds, "us-east-1", "s3", S3_NOW, &s) != -EINVAL)
                        TEST_FAIL("query case '%s' was accepted", bad_params[i].name);
                ASSERT_STREQ(s.amz_date, "untouched");
        }
        req = good, req.query = many_params, req.n_query = SIGV4_QUERY_MAX + 1;
        EXPECT_EINVAL(&req, &s3_creds, "us-east-1", "s3", S3_NOW);
        req = good, req.query = NULL, req.n_query = 1;
        EXPECT_EINVAL(&req, &s3_creds, "us-east-1", "s3", S3_NOW);
        req = good, req.query = many_params, req.n_query = SIGV4_QUERY_MAX;
        ASSERT_OK(sigv4_sign(&crypto, &req, &s3_creds, "us-east-1", "s3", S3_NOW, &s));
        sigv4_signature_done(&s);
        s = sentinel;

        /* Credentials. */
        c = s3_creds, c.access_key_id = "AKIA/EXAMPLE";
        EXPECT_EINVAL(&good, &c, "us-east-1", "s3", S3_NOW);
        c = s3_creds, c.access_key_id = "AKIA,EXAMPLE";
        EXPECT_EINVAL(&good, &c, "us-east-1", "s3", S3_NOW);
        c = s3_creds, c.access_key_id = "AKIA EXAMPLE";
        EXPECT_EINVAL(&good, &c, "us-east-1", "s3", S3_NOW);
        c = s3_creds, c.access_key_id = "";
        EXPECT_EINVAL(&good, &c, "us-east-1", "s3", S3_NOW);
        c = s3_creds, c.access_key_id = long_name;
        EXPECT_EINVAL(&good, &c, "us-east-1", "s3", S3_NOW);
        c = s3_creds, c.secret_access_key = "";
        EXPECT_EINVAL(&good, &c, "us-east-1", "s3", S3_NOW);
        c = s3_creds, c.secret_access_key = NULL;
        EXPECT_EINVAL(&good, &c, "us-east-1", "s3", S3_NOW);
        c = s3_creds, c.secret_access_key = long_name;
        EXPECT_EINVAL(&good, &c, "us-east-1", "s3", S3_NOW);
        c = s3_creds, c.session_token = "tok en";
        EXPECT_EINVAL(&good, &c, "us-east-1", "s3", S3_NOW);
        c = s3_creds, c.session_token = "token\n";
        EXPECT_EINVAL(&good, &c, "us-east-1", "s3", S3_NOW);

        /* Scope. */
        EXPECT_EINVAL(&good, &s3_creds, "", "s3", S3_NOW);
        EXPECT_EINVAL(&good, &s3_creds, NULL, "s3", S3_NOW);
        EXPECT_EINVAL(&good, &s3_creds, "us-east-1/x", "s3", S3_NOW);
        EXPECT_EINVAL(&good, &s3_creds, "us east", "s3", S3_NOW);
        EXPECT_EINVAL(&good, &s3_creds, long_scope, "s3", S3_NOW);
        EXPECT_EINVAL(&good, &s3_creds, "us-east-1", "", S3_NOW);
        EXPECT_EINVAL(&good, &s3_creds, "us-east-1", "s3/", S3_NOW);

        /* Time. */
        EXPECT_EINVAL(&good, &s3_creds, "us-east-1", "s3", -1);
        EXPECT_EINVAL(&good, &s3_creds, "us-east-1", "s3", SIGV4_TIME_MAX + 1);
        EXPECT_EINVAL(&good, &s3_creds, "us-east-1", "s3", INT64_MIN);
#undef EXPECT_EINVAL
}

TESTS_MAIN
