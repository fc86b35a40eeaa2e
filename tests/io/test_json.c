/* JSON: a valid document walked node by node (kinds, values, offsets,
 * decoded UTF-8 bytes), every error class with its exact message and byte
 * offset, the depth limit at 64/65, exact big integers with jnode_u64, and
 * the writer: escapes that round-trip through the parser, %.17g numbers,
 * null for non-finite values, growth of sbuf. */
#include "harness.h"
#include "io/json.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

static void expect_error(const char *text, size_t len, const char *want) {
    jdoc d;
    status st = jdoc_parse(&d, text, len, "t.json");
    CHECK_MSG(st == YOLOC_ERR_PARSE, "input '%.*s': status %d, want ERR_PARSE", (int)len, text, st);
    CHECK_STR(yoloc_last_error(), want);
    CHECK(d.root == NULL && d.pool == NULL);
    jdoc_free(&d);
}
#define EXPECT_ERROR(lit, want) expect_error(lit, sizeof(lit) - 1, want)

static void test_valid(void) {
    const char *text =
        " {\"a\": [1, -2.5e3, true, false, null, 0, -0.0, 1E+2],\n"
        "  \"s\": \"h\\u00e9\\u20ac\\ud83d\\ude00 \\\"q\\\" \\\\ \\/ \\b\\f\\n\\r\\t\",\n"
        "  \"raw\": \"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\",\n"
        "  \"nul\": \"a\\u0000b\", \"o\": {}, \"e\": [], \"\": 7} \r\n\t";
    jdoc d;
    CHECK_EQ_INT(jdoc_parse(&d, text, strlen(text), "t.json"), YOLOC_OK);
    const jnode *r = d.root;
    CHECK(r && r->kind == JSON_OBJECT && r->n == 7);
    if (!r || r->n != 7) {
        jdoc_free(&d);
        return;
    }
    CHECK_EQ_INT(r->offset, 1);
    const char *keys[7] = {"a", "s", "raw", "nul", "o", "e", ""};
    for (int i = 0; i < 7; i++) CHECK_STR(r->keys[i], keys[i]); /* source order */

    const jnode *a = jnode_get(r, "a");
    CHECK(a && a->kind == JSON_ARRAY && a->n == 8);
    CHECK_EQ_INT(a->offset, 7);
    CHECK(a->items[0]->kind == JSON_NUMBER && a->items[0]->number == 1.0);
    CHECK_STR(a->items[1]->text, "-2.5e3");
    CHECK_NEAR(a->items[1]->number, -2500.0, 0);
    CHECK_EQ_INT(a->items[1]->offset, 11);
    CHECK(a->items[2]->kind == JSON_BOOL && a->items[2]->boolean == 1);
    CHECK(a->items[3]->kind == JSON_BOOL && a->items[3]->boolean == 0);
    CHECK(a->items[4]->kind == JSON_NULL);
    CHECK(a->items[5]->number == 0 && !signbit(a->items[5]->number));
    CHECK(a->items[6]->number == 0 && signbit(a->items[6]->number));
    CHECK_NEAR(a->items[7]->number, 100.0, 0);

    /* é = C3 A9, € = E2 82 AC, U+1F600 = F0 9F 98 80 (from the surrogate pair) */
    const char *want_s = "h\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80 \"q\" \\ / \b\f\n\r\t";
    const jnode *s = jnode_get(r, "s");
    CHECK(s && s->kind == JSON_STRING);
    CHECK_STR(s->text, want_s);
    CHECK_EQ_INT(s->len, strlen(want_s));
    CHECK_STR(jnode_get(r, "raw")->text, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
    const jnode *nul = jnode_get(r, "nul");
    CHECK(nul && nul->len == 3 && memcmp(nul->text, "a\0b", 4) == 0);
    CHECK(jnode_get(r, "o")->kind == JSON_OBJECT && jnode_get(r, "o")->n == 0);
    CHECK(jnode_get(r, "e")->kind == JSON_ARRAY && jnode_get(r, "e")->n == 0);
    CHECK_NEAR(jnode_get(r, "")->number, 7, 0);
    CHECK(jnode_get(r, "missing") == NULL);
    CHECK(jnode_get(a, "a") == NULL); /* not an object */
    jdoc_free(&d);

    /* scalars at the top level */
    CHECK_EQ_INT(jdoc_parse(&d, "\"x\"", 3, "t"), YOLOC_OK);
    CHECK(d.root->kind == JSON_STRING);
    jdoc_free(&d);
    CHECK_EQ_INT(jdoc_parse(&d, "  null", 6, "t"), YOLOC_OK);
    CHECK(d.root->kind == JSON_NULL && d.root->offset == 2);
    jdoc_free(&d);
    /* the length bounds the text: "[1]" out of "[1]xyz" */
    CHECK_EQ_INT(jdoc_parse(&d, "[1]xyz", 3, "t"), YOLOC_OK);
    jdoc_free(&d);
    /* a big document crosses pool chunks */
    size_t cap = 400000, n = 0;
    char *big = malloc(cap);
    n += (size_t)sprintf(big + n, "[");
    for (int i = 0; i < 20000; i++)
        n += (size_t)sprintf(big + n, "%s{\"k%d\":\"v%d\"}", i ? "," : "", i, i);
    n += (size_t)sprintf(big + n, "]");
    CHECK_EQ_INT(jdoc_parse(&d, big, n, "big"), YOLOC_OK);
    CHECK(d.root && d.root->n == 20000);
    if (d.root && d.root->n == 20000)
        CHECK_STR(jnode_get(d.root->items[12345], "k12345")->text, "v12345");
    jdoc_free(&d);
    free(big);
}

static void test_errors(void) {
    EXPECT_ERROR("", "t.json: byte 0: unexpected end of input, expected a value");
    EXPECT_ERROR("   ", "t.json: byte 3: unexpected end of input, expected a value");
    EXPECT_ERROR("[1,]", "t.json: byte 3: trailing comma in an array");
    EXPECT_ERROR("{\"a\":1,}", "t.json: byte 7: trailing comma in an object");
    EXPECT_ERROR("[1 2]", "t.json: byte 3: expected ',' or ']' in an array, got '2'");
    EXPECT_ERROR("[1", "t.json: byte 2: expected ',' or ']' in an array, got end of input");
    EXPECT_ERROR("{\"a\" 1}", "t.json: byte 5: expected ':' after an object key, got '1'");
    EXPECT_ERROR("{\"a\":1 \"b\":2}", "t.json: byte 7: expected ',' or '}' in an object, got '\"'");
    EXPECT_ERROR("{1:2}", "t.json: byte 1: expected a string key in an object, got '1'");
    EXPECT_ERROR("{'a':1}", "t.json: byte 1: expected a string key in an object, got '''");
    /* numbers */
    EXPECT_ERROR("01", "t.json: byte 0: invalid number: leading zero");
    EXPECT_ERROR("-01", "t.json: byte 0: invalid number: leading zero");
    EXPECT_ERROR("1.",
                 "t.json: byte 2: invalid number: expected a digit after '.', got end of input");
    EXPECT_ERROR("1.e5", "t.json: byte 2: invalid number: expected a digit after '.', got 'e'");
    EXPECT_ERROR("-", "t.json: byte 1: invalid number: expected a digit, got end of input");
    EXPECT_ERROR("-a", "t.json: byte 1: invalid number: expected a digit, got 'a'");
    EXPECT_ERROR(
        "1e", "t.json: byte 2: invalid number: expected a digit in the exponent, got end of input");
    EXPECT_ERROR(
        "1e+",
        "t.json: byte 3: invalid number: expected a digit in the exponent, got end of input");
    EXPECT_ERROR("+1", "t.json: byte 0: unexpected '+', expected a value");
    EXPECT_ERROR(".5", "t.json: byte 0: unexpected '.', expected a value");
    EXPECT_ERROR("1e400", "t.json: byte 0: number out of range: 1e400");
    EXPECT_ERROR("[-1e309]", "t.json: byte 1: number out of range: -1e309");
    EXPECT_ERROR("NaN", "t.json: byte 0: unexpected 'N', expected a value");
    EXPECT_ERROR("0x10", "t.json: byte 1: unexpected data after the JSON value");
    /* literals */
    EXPECT_ERROR("tru", "t.json: byte 0: invalid literal (expected 'true')");
    EXPECT_ERROR("[nul]", "t.json: byte 1: invalid literal (expected 'null')");
    EXPECT_ERROR("True", "t.json: byte 0: unexpected 'T', expected a value");
    /* strings */
    EXPECT_ERROR("\"abc", "t.json: byte 0: unterminated string");
    EXPECT_ERROR("[\"a\\\"]", "t.json: byte 1: unterminated string");
    EXPECT_ERROR("\"a\x01\"",
                 "t.json: byte 2: control character 0x01 in a string (must be escaped)");
    EXPECT_ERROR("\"a\nb\"",
                 "t.json: byte 2: control character 0x0a in a string (must be escaped)");
    EXPECT_ERROR("\"\\x\"", "t.json: byte 1: invalid escape '\\' followed by 'x'");
    EXPECT_ERROR("\"\\u12\"", "t.json: byte 1: invalid \\u escape (needs 4 hex digits)");
    EXPECT_ERROR("\"\\u12g4\"", "t.json: byte 1: invalid \\u escape (needs 4 hex digits)");
    EXPECT_ERROR("\"\\ud800\"",
                 "t.json: byte 1: high surrogate \\uD800 not followed by a low surrogate");
    EXPECT_ERROR("\"\\ud800\\u0041\"",
                 "t.json: byte 1: high surrogate \\uD800 not followed by a low surrogate");
    EXPECT_ERROR("\"\\ud800\\ud800\"",
                 "t.json: byte 1: high surrogate \\uD800 not followed by a low surrogate");
    EXPECT_ERROR("\"x\\udc00\"", "t.json: byte 2: lone low surrogate \\uDC00");
    /* UTF-8: bad continuation, overlong, encoded surrogate, > U+10FFFF, truncated, stray
     * continuation */
    EXPECT_ERROR("\"\xc3\x28\"", "t.json: byte 1: invalid UTF-8 in a string (byte 0xc3)");
    EXPECT_ERROR("\"\xc0\xaf\"", "t.json: byte 1: invalid UTF-8 in a string (byte 0xc0)");
    EXPECT_ERROR("\"\xe0\x80\xaf\"", "t.json: byte 1: invalid UTF-8 in a string (byte 0xe0)");
    EXPECT_ERROR("\"ab\xed\xa0\x80\"", "t.json: byte 3: invalid UTF-8 in a string (byte 0xed)");
    EXPECT_ERROR("\"\xf4\x90\x80\x80\"", "t.json: byte 1: invalid UTF-8 in a string (byte 0xf4)");
    EXPECT_ERROR("\"\xe2\x82\"", "t.json: byte 1: invalid UTF-8 in a string (byte 0xe2)");
    EXPECT_ERROR("\"\x80\"", "t.json: byte 1: invalid UTF-8 in a string (byte 0x80)");
    EXPECT_ERROR("\"\xff\"", "t.json: byte 1: invalid UTF-8 in a string (byte 0xff)");
    /* duplicates, trailing data, BOM, NUL */
    EXPECT_ERROR("{\"a\":1,\"b\":2,\"a\":3}",
                 "t.json: byte 13: duplicate key \"a\" (first at byte 1)");
    EXPECT_ERROR("{\"b\":{\"x\":1,\"x\":1},\"a\":0}",
                 "t.json: byte 12: duplicate key \"x\" (first at byte 6)");
    EXPECT_ERROR("{\"a\\u0000\":1,\"a\\u0000\":2}",
                 "t.json: byte 13: duplicate key \"a?\" (first at byte 1)");
    EXPECT_ERROR("[1] x", "t.json: byte 4: unexpected data after the JSON value");
    EXPECT_ERROR("{} {}", "t.json: byte 3: unexpected data after the JSON value");
    EXPECT_ERROR("[1]\0", "t.json: byte 3: unexpected data after the JSON value");
    EXPECT_ERROR("\xef\xbb\xbf{}", "t.json: byte 0: unexpected byte 0xef, expected a value");
    EXPECT_ERROR("// c\n{}", "t.json: byte 0: unexpected '/', expected a value");

    /* keys differing only after an embedded NUL are distinct */
    jdoc d;
    const char *nulkeys = "{\"a\\u0000x\":1,\"a\\u0000y\":2}";
    CHECK_EQ_INT(jdoc_parse(&d, nulkeys, strlen(nulkeys), "t"), YOLOC_OK);
    jdoc_free(&d);
}

static void test_depth(void) {
    char buf[300];
    for (int depth = 63; depth <= 66; depth++) {
        memset(buf, '[', (size_t)depth);
        for (int i = 0; i < depth; i++) buf[depth + i] = ']';
        jdoc d;
        status st = jdoc_parse(&d, buf, (size_t)(2 * depth), "deep");
        if (depth <= 64) {
            CHECK_MSG(st == YOLOC_OK, "depth %d: %s", depth, yoloc_last_error());
        } else {
            CHECK_EQ_INT(st, YOLOC_ERR_PARSE);
            CHECK_STR(yoloc_last_error(), "deep: byte 64: nesting deeper than 64 levels");
        }
        jdoc_free(&d);
    }
    /* objects count too */
    sbuf s;
    sbuf_init(&s);
    for (int i = 0; i < 65; i++) sbuf_append(&s, "{\"k\":", 5);
    sbuf_append(&s, "1", 1);
    for (int i = 0; i < 65; i++) sbuf_append(&s, "}", 1);
    jdoc d;
    CHECK_EQ_INT(jdoc_parse(&d, s.buf, s.len, "deep"), YOLOC_ERR_PARSE);
    CHECK_STR(yoloc_last_error(), "deep: byte 320: nesting deeper than 64 levels");
    sbuf_free(&s);
}

static void test_u64(void) {
    const char *text =
        "[0, 18446744073709551615, 18446744073709551616, 9007199254740993, -1, 1.0, 1e3, -0, "
        "99999999999999999999999]";
    jdoc d;
    CHECK_EQ_INT(jdoc_parse(&d, text, strlen(text), "u64"), YOLOC_OK);
    const jnode *a = d.root;
    uint64_t v = 42;
    CHECK(jnode_u64(a->items[0], &v) == 0 && v == 0);
    CHECK(jnode_u64(a->items[1], &v) == 0 && v == UINT64_MAX);
    CHECK_EQ_INT(jnode_u64(a->items[2], &v), -1); /* 2^64 */
    CHECK(jnode_u64(a->items[3], &v) == 0 &&
          v == 9007199254740993ull); /* 2^53 + 1, not exact as double */
    CHECK(a->items[3]->number == 9007199254740992.0);
    CHECK_EQ_INT(jnode_u64(a->items[4], &v), -1);
    CHECK_EQ_INT(jnode_u64(a->items[5], &v), -1);
    CHECK_EQ_INT(jnode_u64(a->items[6], &v), -1);
    CHECK_EQ_INT(jnode_u64(a->items[7], &v), -1);
    CHECK_EQ_INT(jnode_u64(a->items[8], &v), -1);
    CHECK_EQ_INT(jnode_u64(a, &v), -1); /* not a number */
    CHECK_EQ_INT(jnode_u64(NULL, &v), -1);
    jdoc_free(&d);
}

static void test_writer(void) {
    sbuf s;
    sbuf_init(&s);
    const char *raw = "a\"b\\c\nd\te\x01\x1f/\xc3\xa9\r\b\f";
    sbuf_json_string(&s, raw);
    CHECK_STR(s.buf, "\"a\\\"b\\\\c\\nd\\te\\u0001\\u001f/\xc3\xa9\\r\\b\\f\"");
    /* parses back to the same bytes */
    jdoc d;
    CHECK_EQ_INT(jdoc_parse(&d, s.buf, s.len, "rt"), YOLOC_OK);
    CHECK(d.root && d.root->kind == JSON_STRING);
    if (d.root) CHECK_STR(d.root->text, raw);
    jdoc_free(&d);

    /* every control character round-trips */
    char ctl[32];
    for (int i = 1; i < 32; i++) ctl[i - 1] = (char)i;
    ctl[31] = 0;
    sbuf_free(&s);
    sbuf_json_string(&s, ctl);
    CHECK_EQ_INT(jdoc_parse(&d, s.buf, s.len, "rt"), YOLOC_OK);
    if (d.root) CHECK_STR(d.root->text, ctl);
    jdoc_free(&d);

    sbuf_free(&s);
    sbuf_json_string(&s, NULL);
    CHECK_STR(s.buf, "null");
    sbuf_free(&s);

    double vals[] = {0.1, -0.0, 1e300, 5e-324, 123456789.123456789, 1.0 / 3.0, 42};
    for (size_t i = 0; i < sizeof vals / sizeof *vals; i++) {
        sbuf_free(&s);
        sbuf_json_number(&s, vals[i]);
        CHECK_EQ_INT(jdoc_parse(&d, s.buf, s.len, "num"), YOLOC_OK);
        CHECK_MSG(d.root && d.root->number == vals[i] &&
                      signbit(d.root->number) == signbit(vals[i]),
                  "%.17g written as %s", vals[i], s.buf);
        jdoc_free(&d);
    }
    sbuf_free(&s);
    sbuf_json_number(&s, 0.1);
    CHECK_STR(s.buf, "0.10000000000000001");
    sbuf_free(&s);
    sbuf_json_number(&s, NAN);
    sbuf_append(&s, ",", 1);
    sbuf_json_number(&s, -INFINITY);
    CHECK_STR(s.buf, "null,null");
    sbuf_free(&s);

    /* growth: many appends, content intact */
    for (int i = 0; i < 10000; i++) sbuf_printf(&s, "%d,", i);
    CHECK(!s.failed);
    CHECK_EQ_INT(s.len, strlen(s.buf));
    CHECK(strncmp(s.buf, "0,1,2,", 6) == 0 && strcmp(s.buf + s.len - 5, "9999,") == 0);
    sbuf_free(&s);
    CHECK(s.buf == NULL && s.len == 0);
}

int main(void) {
    test_valid();
    test_errors();
    test_depth();
    test_u64();
    test_writer();
    return test_finish("test_json");
}
