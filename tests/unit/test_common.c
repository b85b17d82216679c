/* test_common.c -- common/: dates, the histogram, frame peeks, UTF-8 and
 * YAML parsing (including the input that hangs libfyaml 0.7.12). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "clock.h"
#include "frame.h"
#include "hist.h"
#include "yamldoc.h"
#include "macx.pb-c.h"

static void
test_dates (void **state)
{
    (void) state;
    int32_t d;
    assert_int_equal (macx_date_parse ("1970-01-01", &d), 0);
    assert_int_equal (d, 0);
    assert_int_equal (macx_date_parse ("2026-03-02", &d), 0);
    char buf[11];
    assert_string_equal (macx_date_format (d, buf), "2026-03-02");
    assert_int_equal (macx_date_parse ("2024-02-29", &d), 0);      /* leap day */
    assert_int_equal (macx_date_parse ("2026-02-29", &d), -1);     /* not a leap year */
    assert_int_equal (macx_date_parse ("2026-13-01", &d), -1);
    assert_int_equal (macx_date_parse ("2026-1-01", &d), -1);
    assert_int_equal (macx_date_parse ("", &d), -1);
}

static void
test_hist (void **state)
{
    (void) state;
    macx_hist_t *h = malloc (sizeof *h);
    macx_hist_reset (h);
    for (uint64_t v = 1; v <= 1000; v++)
        macx_hist_add (h, v);
    uint64_t p50 = macx_hist_quantile (h, 0.5), p99 = macx_hist_quantile (h, 0.99);
    assert_true (p50 >= 485 && p50 <= 515);     /* within the buckets' ~3% */
    assert_true (p99 >= 960 && p99 <= 1000);
    assert_int_equal (macx_hist_quantile (h, 1.0), 1000);
    assert_int_equal (h->min, 1);
    free (h);
}

static void
test_frame_peek (void **state)
{
    (void) state;
    uint8_t buf[64], body[] = { 1, 2, 3 };
    size_t n = macx_frame_prefix (2, sizeof body, buf);
    memcpy (buf + n, body, sizeof body);
    uint32_t field;
    const uint8_t *b;
    size_t len;
    assert_int_equal (macx_frame_peek (buf, n + sizeof body, &field, &b, &len), 0);
    assert_int_equal (field, 2);
    assert_int_equal (len, 3);
    assert_memory_equal (b, body, 3);
    assert_int_equal (macx_frame_peek (buf, n + 2, &field, &b, &len), -1);   /* truncated */
    assert_int_equal (macx_frame_peek (buf, n + 4, &field, &b, &len), -1);   /* trailing */
    uint8_t varint[] = { 0x10, 0x01 };                                       /* wire type 0 */
    assert_int_equal (macx_frame_peek (varint, 2, &field, &b, &len), -1);
}

/* macx_frame_next walks the repeated bytes of a Records body, and packs
 * what protobuf-c itself reads as macx.Records. */
static void
test_frame_next (void **state)
{
    (void) state;
    uint8_t a[200], b[3] = { 7, 8, 9 };
    memset (a, 0xab, sizeof a);
    uint8_t body[300];
    size_t n = macx_frame_prefix (1, sizeof a, body);
    memcpy (body + n, a, sizeof a);
    n += sizeof a;
    n += macx_frame_prefix (1, sizeof b, body + n);
    memcpy (body + n, b, sizeof b);
    n += sizeof b;
    Macx__Records *r = macx__records__unpack (NULL, n, body);
    assert_non_null (r);
    assert_int_equal (r->n_envelopes, 2);
    assert_int_equal (r->envelopes[0].len, sizeof a);
    assert_int_equal (r->envelopes[1].len, sizeof b);
    macx__records__free_unpacked (r, NULL);
    size_t pos = 0, len;
    uint32_t field;
    const uint8_t *got;
    assert_int_equal (macx_frame_next (body, n, &pos, &field, &got, &len), 1);
    assert_int_equal (field, 1);
    assert_int_equal (len, sizeof a);
    assert_memory_equal (got, a, sizeof a);
    assert_int_equal (macx_frame_next (body, n, &pos, &field, &got, &len), 1);
    assert_int_equal (len, sizeof b);
    assert_memory_equal (got, b, sizeof b);
    assert_int_equal (macx_frame_next (body, n, &pos, &field, &got, &len), 0);   /* the end */
    pos = 0;
    assert_int_equal (macx_frame_next (body, n - 1, &pos, &field, &got, &len), 1);
    assert_int_equal (macx_frame_next (body, n - 1, &pos, &field, &got, &len), -1);   /* cut */
    uint8_t varint[] = { 0x08, 0x01 };                                       /* wire type 0 */
    pos = 0;
    assert_int_equal (macx_frame_next (varint, 2, &pos, &field, &got, &len), -1);
    uint8_t overlong[] = { 0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01 };
    pos = 0;
    assert_int_equal (macx_frame_next (overlong, sizeof overlong, &pos, &field, &got, &len), -1);
    uint8_t huge[] = { 0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f };                 /* 4 GiB claimed */
    pos = 0;
    assert_int_equal (macx_frame_next (huge, sizeof huge, &pos, &field, &got, &len), -1);
}

static void
test_utf8 (void **state)
{
    (void) state;
    size_t bad = 99;
    assert_true (macx_utf8_valid ("plain", 5, &bad));
    assert_true (macx_utf8_valid ("caf\xc3\xa9", 5, &bad));
    assert_false (macx_utf8_valid ("a\xff", 2, &bad));
    assert_int_equal (bad, 1);
    assert_false (macx_utf8_valid ("\xc0\xaf", 2, &bad));               /* overlong */
    assert_false (macx_utf8_valid ("\xed\xa0\x80", 3, &bad));           /* surrogate */
    assert_false (macx_utf8_valid ("\xe2\x82", 2, &bad));               /* truncated */
    assert_true (macx_utf8_valid ("\xf0\x9f\x98\x80", 4, &bad));        /* 4 bytes */
}

static void
test_yaml_errors (void **state)
{
    (void) state;
    macx_error_t err = { 0 };
    /* This input made libfyaml loop forever: it must be refused first. */
    const char hang[] = "%\xff\xff\xffs\xff" "aa";
    assert_null (macx_yaml_parse ("x.yaml", hang, sizeof hang - 1, false, MACX_EFORMAT, &err));
    assert_int_equal (err.code, MACX_EFORMAT);
    assert_string_equal (err.msg, "x.yaml:1:2: not valid UTF-8 (byte 0xff)");
    const char fine[] = "a: 1\nb: [x, y]\n";
    struct fy_document *doc = macx_yaml_parse ("c.yaml", fine, sizeof fine - 1, false,
                                               MACX_EFORMAT, &err);
    assert_non_null (doc);
    fy_document_destroy (doc);
}

/* Parses text as f.yaml and checks the error message, exactly. */
static void
s_yaml_error (const char *text, const char *want)
{
    macx_error_t err = { 0 };
    struct fy_document *doc = macx_yaml_parse ("f.yaml", text, strlen (text), false, MACX_EFORMAT,
                                               &err);
    if (doc || strcmp (err.msg, want) != 0)
        print_error ("for %s\nwant %s\n got %s\n", text, want, doc ? "(parsed)" : err.msg);
    assert_null (doc);
    assert_int_equal (err.code, MACX_EFORMAT);
    assert_string_equal (err.msg, want);
}

/* A syntax error is reported where it is: libfyaml's positions (already
 * 1-based) as they are, except that an unclosed '[' or '{' is reported at
 * the bracket, not where libfyaml noticed (lines further down). */
static void
test_yaml_positions (void **state)
{
    (void) state;
    s_yaml_error ("a: [1, 2\n", "f.yaml:1:4: YAML does not parse: '[' is never closed");
    s_yaml_error ("a: 1\nlist: [x, y\nb: 3\nc: {d: 4}\ne: 5\n",
                  "f.yaml:2:7: YAML does not parse: '[' is never closed");
    s_yaml_error ("a: {x: 1\nb: 3\n", "f.yaml:1:4: YAML does not parse: '{' is never closed");
    /* the innermost of two unclosed; a closed one inside is not it */
    s_yaml_error ("a: [1, {x: 2\nb: 3\n", "f.yaml:1:8: YAML does not parse: '{' is never closed");
    s_yaml_error ("a: [1, [2, 3], 4\nb: 5\n",
                  "f.yaml:1:4: YAML does not parse: '[' is never closed");
    s_yaml_error ("top:\n  y: [a, b\n  z: 1\n",
                  "f.yaml:2:6: YAML does not parse: '[' is never closed");
    /* brackets in quotes, comments and plain words do not count */
    s_yaml_error ("a: [x, 'it''s]', \"q]\\\"\", don't\nb: 1\n",
                  "f.yaml:1:4: YAML does not parse: '[' is never closed");
    s_yaml_error ("a: [x #]\nb: 1\n", "f.yaml:1:4: YAML does not parse: '[' is never closed");
    /* other errors keep libfyaml's position and words */
    s_yaml_error ("a: b: c\n",
                  "f.yaml:1:5: YAML does not parse: invalid nested block mapping on the same line");
    s_yaml_error ("a:\n  - x\n - y\n",
                  "f.yaml:3:2: YAML does not parse: wrong indendation in sequence while in mapping");
    s_yaml_error ("a: \"abc\n",
                  "f.yaml:1:5: YAML does not parse: double-quoted scalar without closing quote");
    s_yaml_error ("a: [1, 2}\n", "f.yaml:1:9: YAML does not parse: mismatched flow mapping end");
    s_yaml_error ("a: [1, 2]]\n",
                  "f.yaml:1:10: YAML does not parse: flow sequence with invalid extra closing bracket");
    /* a flow sequence over two lines that closes: the error is further on */
    s_yaml_error ("a: [1,\n  2]\nb: [3, @x]\n",
                  "f.yaml:3:8: YAML does not parse: plain scalar cannot start with '@'");
    s_yaml_error ("a: 1\na: 2\n", "f.yaml:2:1: YAML does not parse: duplicate key");
}

/* The strict reader: one key table, one wording for every error. */
typedef struct {
    char name[16];
    int workers;
    size_t map;
    int64_t skew;
    bool sync;
    int nested;
} s_conf_t;

static int
s_read_nested (macx_yaml_reader_t *r, struct fy_node *n, void *dst)
{
    static const macx_yaml_key_t keys[] = {
        { "depth", MACX_YAML_INT, offsetof (s_conf_t, nested), 0, 1, 9, true, NULL },
    };
    return macx_yaml_read (r, n, "nested", keys, 1, dst);
}

static int
s_read_conf (const char *text, s_conf_t *conf, char *msg, size_t size)
{
    static const macx_yaml_key_t keys[] = {
        { "name", MACX_YAML_STRING, offsetof (s_conf_t, name), sizeof ((s_conf_t *) 0)->name, 0, 0,
          true, NULL },
        { "workers", MACX_YAML_INT, offsetof (s_conf_t, workers), 0, 0, 16, false, NULL },
        { "map", MACX_YAML_SIZE, offsetof (s_conf_t, map), 0, 64 << 10, 1LL << 30, false, NULL },
        { "skew", MACX_YAML_DURATION, offsetof (s_conf_t, skew), 0, 0, 86400000, false, NULL },
        { "sync", MACX_YAML_BOOL, offsetof (s_conf_t, sync), 0, 0, 0, false, NULL },
        { "nested", MACX_YAML_NODE, 0, 0, 0, 0, false, s_read_nested },
    };
    macx_error_t err = { 0 };
    memset (conf, 0, sizeof *conf);
    struct fy_document *doc = macx_yaml_parse ("c.yaml", text, strlen (text), true, MACX_EFORMAT,
                                               &err);
    int rc = err.code;
    if (doc) {
        macx_yaml_reader_t r = { "c.yaml", &err, 0, 1, 1 };
        rc = macx_yaml_read (&r, fy_document_root (doc), "the file", keys,
                             sizeof keys / sizeof keys[0], conf);
        fy_document_destroy (doc);
    }
    snprintf (msg, size, "%s", rc ? macx_error_text (&err) : "");
    return rc;
}

static void
test_yaml_reader (void **state)
{
    (void) state;
    s_conf_t conf;
    char msg[600];
    assert_int_equal (s_read_conf ("name: a\nworkers: 3\nmap: 16M\nskew: 5m\nsync: false\n"
                                   "nested: {depth: 2}\n", &conf, msg, sizeof msg), 0);
    assert_string_equal (conf.name, "a");
    assert_int_equal (conf.workers, 3);
    assert_int_equal (conf.map, 16 << 20);
    assert_int_equal (conf.skew, 300000);
    assert_false (conf.sync);
    assert_int_equal (conf.nested, 2);
    struct { const char *text, *want; } bad[] = {
        { "name: a\nwrkers: 3\n", "c.yaml:2:1: unknown key 'wrkers' in the file (expected one of: "
          "name, workers, map, skew, sync, nested)" },
        { "name: a\nworkers: 99\n", "c.yaml:2:10: 'workers' must be a whole number from 0 to 16, "
          "not '99'" },
        { "name: a\nworkers: 1.5\n", "c.yaml:2:10: 'workers' must be a whole number from 0 to 16, "
          "not '1.5'" },
        { "name: a\nmap: -4G\n", "c.yaml:2:6: 'map' must be bytes, or a number with K, M, G or T, "
          "from 64K to 1G, not '-4G'" },
        { "name: a\nmap: 99999999999999999999\n", "from 64K to 1G, not '99999999999999999999'" },
        { "name: a\nskew: 2d\n", "c.yaml:2:7: 'skew' must be a duration" },
        { "name: a\nsync: yes\n", "c.yaml:2:7: 'sync' must be true or false, not 'yes'" },
        { "name: a\nname: b\n", "c.yaml:2:1: duplicate key 'name' in the file" },
        { "workers: 1\n", "c.yaml:1:1: the file has no 'name'" },
        { "name: abcdefghijklmnopq\n", "c.yaml:1:7: 'name' must be at most 15 characters, not "
          "'abcdefghijklmnopq'" },
        { "name: [a]\n", "c.yaml:1:8: 'name' must be a single value" },
        { "name: a\nnested: {deep: 1}\n", "c.yaml:2:10: unknown key 'deep' in nested (expected "
          "one of: depth)" },
        { "name: a\nnested: 3\n", "c.yaml:2:9: nested must be a mapping of keys to values" },
        { "- a\n", "c.yaml:1:3: the file must be a mapping of keys to values" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = s_read_conf (bad[i].text, &conf, msg, sizeof msg);
        if (rc != MACX_EFORMAT || !strstr (msg, bad[i].want))
            fail_msg ("case %zu: rc %d, '%s', want '%s'", i, rc, msg, bad[i].want);
    }
    char text[16];
    macx_yaml_size_text (64 << 10, text, sizeof text);
    assert_string_equal (text, "64K");
    macx_yaml_size_text (16ULL << 40, text, sizeof text);
    assert_string_equal (text, "16T");
    macx_yaml_size_text (1000, text, sizeof text);
    assert_string_equal (text, "1000");
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_dates),      cmocka_unit_test (test_hist),
        cmocka_unit_test (test_frame_peek), cmocka_unit_test (test_frame_next),
        cmocka_unit_test (test_utf8),
        cmocka_unit_test (test_yaml_errors), cmocka_unit_test (test_yaml_positions),
        cmocka_unit_test (test_yaml_reader),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
