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

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_dates),      cmocka_unit_test (test_hist),
        cmocka_unit_test (test_frame_peek), cmocka_unit_test (test_utf8),
        cmocka_unit_test (test_yaml_errors), cmocka_unit_test (test_yaml_positions),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
