#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pattern.h"

static struct sl_pattern *compile_ok(const char *src)
{
    struct sl_pattern *pat = NULL;
    char err[128] = "";
    int rc = sl_pattern_compile(src, &pat, err, sizeof(err));
    if (rc != 0)
        print_error("pattern \"%s\": %s\n", src, err);
    assert_int_equal(rc, 0);
    assert_non_null(pat);
    return pat;
}

/* Matches against a heap copy of exactly strlen(subject) bytes, with no NUL
 * after it, so that ASan catches any read past len. */
static bool matches(const char *src, const char *subject)
{
    struct sl_pattern *pat = compile_ok(src);
    size_t len = strlen(subject);
    char *copy = malloc(len > 0 ? len : 1);
    assert_non_null(copy);
    memcpy(copy, subject, len);
    bool is_match = sl_pattern_match(pat, copy, len);
    free(copy);
    sl_pattern_free(pat);
    return is_match;
}

static void expect_error(const char *src, const char *message)
{
    struct sl_pattern *sentinel = (struct sl_pattern *)&sentinel;
    struct sl_pattern *pat = sentinel;
    char err[128] = "";
    assert_int_equal(sl_pattern_compile(src, &pat, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, message);
    assert_ptr_equal(pat, sentinel); /* *out untouched */
}

static char *repeat_char(char ch, size_t count)
{
    char *text = malloc(count + 1);
    assert_non_null(text);
    memset(text, ch, count);
    text[count] = '\0';
    return text;
}

static void literals_match_anywhere(void **state)
{
    assert_true(matches("abc", "abc"));
    assert_true(matches("abc", "xxabcxx"));
    assert_true(matches("abc", "ababc"));
    assert_false(matches("abc", "abd"));
    assert_false(matches("abc", "ab"));
    assert_false(matches("abc", ""));
    assert_false(matches("abc", "ABC")); /* case-sensitive */
}

static void empty_pattern_matches_everything(void **state)
{
    assert_true(matches("", ""));
    assert_true(matches("", "anything"));
    assert_true(matches("()", "x"));
}

static void dot_matches_one_byte(void **state)
{
    assert_true(matches("a.c", "abc"));
    assert_true(matches("a.c", "a.c"));
    assert_true(matches("a.c", "a\nc"));
    assert_true(matches("^a.c$", "a\377c"));
    assert_false(matches("a.c", "ac"));
    assert_false(matches("^a.c$", "abbc"));
}

static void caret_anchors_at_start(void **state)
{
    assert_true(matches("^abc", "abcdef"));
    assert_false(matches("^abc", "xabc"));
    assert_true(matches("^", "anything"));
    assert_true(matches("^", ""));
    assert_false(matches("a^b", "ab")); /* '^' mid-pattern can never pass */
    assert_true(matches("(^a)", "ab"));
    assert_false(matches("(^a)", "ba"));
}

static void dollar_anchors_only_at_end(void **state)
{
    assert_true(matches("abc$", "xxabc"));
    assert_false(matches("abc$", "abcx"));
    assert_false(matches("a$", "a\n")); /* not multiline */
    assert_true(matches("$", ""));
    assert_false(matches("a$b", "ab"));
    assert_true(matches("^abc$", "abc"));
    assert_false(matches("^abc$", "abcabc"));
    assert_true(matches("^$", ""));
    assert_false(matches("^$", "x"));
}

static void unanchored_search_finds_late_matches(void **state)
{
    assert_true(matches("a+b", "aaaaaaab"));
    assert_true(matches("b$", "aaab"));
    assert_true(matches("ab*c", "xxxacx"));
    assert_true(matches("x|y", "aaay"));
    assert_false(matches("a+b", "aaaa"));
}

static void alternation_binds_loosest(void **state)
{
    /* ^ab|cd$ is (^ab)|(cd$), not ^(ab|cd)$ */
    assert_true(matches("^ab|cd$", "abx"));
    assert_true(matches("^ab|cd$", "xcd"));
    assert_false(matches("^ab|cd$", "xab"));
    assert_false(matches("^ab|cd$", "cdx"));
    assert_true(matches("^(ab|cd)$", "ab"));
    assert_true(matches("^(ab|cd)$", "cd"));
    assert_false(matches("^(ab|cd)$", "abcd"));
    assert_true(matches("^a(b|c)d$", "acd"));
    assert_false(matches("^a(b|c)d$", "ad"));
    /* concatenation binds tighter than '|', repeats tighter than both */
    assert_true(matches("^ab*|c$", "abbb"));
    assert_false(matches("^ab*|c$", "xabb"));
    assert_false(matches("^ab*|c$", "ca"));
}

static void alternation_of_many_branches(void **state)
{
    const char *src = "^(get|head|post|put|delete)$";
    assert_true(matches(src, "get"));
    assert_true(matches(src, "head"));
    assert_true(matches(src, "put"));
    assert_true(matches(src, "delete"));
    assert_false(matches(src, "patch"));
    assert_false(matches(src, "gethead"));
}

static void empty_branches_match_empty(void **state)
{
    assert_true(matches("^(|a)$", ""));
    assert_true(matches("^(|a)$", "a"));
    assert_true(matches("^(a|)$", ""));
    assert_false(matches("^(a|)$", "b"));
    assert_true(matches("^a|", "zzz")); /* empty branch matches anywhere */
}

static void nested_groups(void **state)
{
    assert_true(matches("^((a|b)(c|d))+$", "acbd"));
    assert_true(matches("^((a|b)(c|d))+$", "bc"));
    assert_false(matches("^((a|b)(c|d))+$", "acb"));
    assert_false(matches("^((a|b)(c|d))+$", ""));
    assert_true(matches("^(a(b(c)?)?)$", "a"));
    assert_true(matches("^(a(b(c)?)?)$", "ab"));
    assert_true(matches("^(a(b(c)?)?)$", "abc"));
    assert_false(matches("^(a(b(c)?)?)$", "ac"));
    assert_true(matches("^(((((x)))))$", "x"));
}

static void star_plus_question(void **state)
{
    assert_true(matches("^ab*c$", "ac"));
    assert_true(matches("^ab*c$", "abbbc"));
    assert_false(matches("^ab*c$", "abxc"));
    assert_false(matches("^ab+c$", "ac"));
    assert_true(matches("^ab+c$", "abc"));
    assert_true(matches("^ab+c$", "abbbbc"));
    assert_true(matches("^ab?c$", "ac"));
    assert_true(matches("^ab?c$", "abc"));
    assert_false(matches("^ab?c$", "abbc"));
    assert_true(matches("^(ab)*$", "ababab"));
    assert_false(matches("^(ab)*$", "abba"));
    assert_true(matches("^(ab)+c$", "abababc"));
    assert_true(matches("^.*$", ""));
    assert_true(matches("^()*$", ""));
    assert_true(matches("^()+x$", "x"));
}

static void bounded_repeats(void **state)
{
    assert_true(matches("^a{3}$", "aaa"));
    assert_false(matches("^a{3}$", "aa"));
    assert_false(matches("^a{3}$", "aaaa"));
    assert_false(matches("^a{2,}$", "a"));
    assert_true(matches("^a{2,}$", "aa"));
    assert_true(matches("^a{2,}$", "aaaaaaaaa"));
    assert_false(matches("^a{2,4}$", "a"));
    assert_true(matches("^a{2,4}$", "aa"));
    assert_true(matches("^a{2,4}$", "aaa"));
    assert_true(matches("^a{2,4}$", "aaaa"));
    assert_false(matches("^a{2,4}$", "aaaaa"));
    assert_true(matches("^a{0,1}$", ""));
    assert_true(matches("^a{0,1}$", "a"));
    assert_false(matches("^a{0,1}$", "aa"));
    assert_true(matches("^a{0,}$", "aaaa"));
    assert_true(matches("^ba{0}c$", "bc")); /* {0} removes the atom */
    assert_false(matches("^ba{0}c$", "bac"));
    assert_true(matches("^(ab){2}$", "abab"));
    assert_false(matches("^(ab){2}$", "ab"));
    assert_true(matches("^(a|bc){1,3}$", "abca"));
    assert_false(matches("^(a|bc){1,3}$", "abcab"));
    assert_true(matches("^(a|bc){2}x$", "bcax"));
    assert_true(matches("^[0-9]{1,3}(\\.[0-9]{1,3}){3}$", "10.0.255.1"));
    assert_false(matches("^[0-9]{1,3}(\\.[0-9]{1,3}){3}$", "10.0.2551.1"));
}

static void repeat_bounds_up_to_32(void **state)
{
    char *a31 = repeat_char('a', 31);
    char *a32 = repeat_char('a', 32);
    char *a33 = repeat_char('a', 33);
    assert_false(matches("^a{32}$", a31));
    assert_true(matches("^a{32}$", a32));
    assert_false(matches("^a{32}$", a33));
    assert_true(matches("^a{0,32}$", a32));
    assert_false(matches("^a{0,32}$", a33));
    assert_true(matches("^a{32,}$", a33));
    free(a31);
    free(a32);
    free(a33);
}

static void bracket_ranges_and_sets(void **state)
{
    assert_true(matches("^[a-z0-9_]+$", "abc_09"));
    assert_false(matches("^[a-z0-9_]+$", "abC"));
    assert_true(matches("^[abc]$", "b"));
    assert_false(matches("^[abc]$", "d"));
    assert_true(matches("^[.]$", "."));
    assert_false(matches("^[.]$", "a"));                   /* '.' is literal in brackets */
    assert_true(matches("^[*+?{}()|$^]+$", "*+?{}()|$^")); /* '^' not first is literal */
    assert_true(matches("^[[]$", "["));
}

static void bracket_negation(void **state)
{
    assert_true(matches("^/[^/]+$", "/users"));
    assert_false(matches("^/[^/]+$", "/a/b"));
    assert_false(matches("^/[^/]+$", "/"));
    assert_true(matches("^[^a-c]$", "\xff"));
    assert_false(matches("^[^a-c]$", "b"));
}

static void bracket_close_first_is_literal(void **state)
{
    assert_true(matches("^[]a]$", "]"));
    assert_true(matches("^[]a]$", "a"));
    assert_false(matches("^[]a]$", "b"));
    assert_false(matches("^[^]a]$", "]"));
    assert_true(matches("^[^]a]$", "b"));
    assert_true(matches("^[]-a]$", "_")); /* range ']'..'a' holds '^' '_' '`' */
    assert_true(matches("]", "x]"));      /* outside brackets ']' and '}' are literal */
    assert_true(matches("^a}$", "a}"));
}

static void bracket_dash_first_or_last_is_literal(void **state)
{
    assert_true(matches("^[a-]$", "-"));
    assert_true(matches("^[a-]$", "a"));
    assert_false(matches("^[a-]$", "b"));
    assert_true(matches("^[-a]$", "-"));
    assert_true(matches("^[^-a]$", "b"));
    assert_false(matches("^[^-a]$", "-"));
    assert_true(matches("^[a-c-]+$", "a-b-c"));
    assert_true(matches("^[--/]$", ".")); /* range '-'..'/' */
    assert_false(matches("^[--/]$", ","));
}

static void bracket_escapes(void **state)
{
    assert_true(matches("^[\\d_]+$", "4_2"));
    assert_false(matches("^[\\d_]+$", "4a"));
    assert_true(matches("^[\\]]$", "]"));
    assert_true(matches("^[\\\\]$", "\\"));
    assert_false(matches("^[\\\\]$", "a"));
    assert_true(matches("^[\\w.-]+$", "api-v2.example_1"));
    assert_false(matches("^[\\w.-]+$", "a b"));
    assert_true(matches("^[^\\s]+$", "nospace"));
    assert_false(matches("^[^\\s]+$", "a\tb"));
    assert_true(matches("^[\\--\\/]$", "."));
}

static void escapes(void **state)
{
    assert_true(matches("^a\\.b$", "a.b"));
    assert_false(matches("^a\\.b$", "axb"));
    assert_true(matches("^\\/api\\/$", "/api/"));
    assert_true(matches("^\\\\$", "\\"));
    assert_true(matches("^\\*\\+\\?\\(\\)\\[\\]\\{\\}\\|\\^\\$$", "*+?()[]{}|^$"));
    assert_true(matches("^\\d+$", "0123456789"));
    assert_false(matches("^\\d+$", "12a"));
    assert_true(matches("^\\w+$", "az_AZ09"));
    assert_false(matches("^\\w+$", "a-b"));
    assert_true(matches("^a\\sb$", "a b"));
    assert_true(matches("^a\\sb$", "a\tb"));
    assert_true(matches("^a\\sb$", "a\rb"));
    assert_false(matches("^a\\sb$", "a_b"));
    assert_true(matches("^\\d{4}-\\d{2}$", "2024-05"));
}

static void bytes_above_ascii_are_literal(void **state)
{
    assert_true(matches("caf\xc3\xa9", "un caf\xc3\xa9"));
    assert_false(matches("^caf\xc3\xa9$", "cafe"));
    assert_true(matches("^caf..$", "caf\xc3\xa9")); /* '.' is one byte */
}

static void subject_need_not_be_nul_terminated(void **state)
{
    struct sl_pattern *pat = compile_ok("^abc$");
    const char buf[] = {'a', 'b', 'c', 'd', 'e'};
    assert_true(sl_pattern_match(pat, buf, 3));
    assert_false(sl_pattern_match(pat, buf, 2));
    assert_false(sl_pattern_match(pat, buf, 4));
    sl_pattern_free(pat);

    pat = compile_ok("d");
    assert_false(sl_pattern_match(pat, buf, 3)); /* the 'd' after len is not seen */
    assert_true(sl_pattern_match(pat, buf, 4));
    sl_pattern_free(pat);

    pat = compile_ok("c$");
    assert_true(sl_pattern_match(pat, buf, 3));
    assert_false(sl_pattern_match(pat, buf, 5));
    sl_pattern_free(pat);
}

static void embedded_nul_is_an_ordinary_byte(void **state)
{
    struct sl_pattern *pat = compile_ok("^a.c$");
    assert_true(sl_pattern_match(pat, "a\0c", 3));
    sl_pattern_free(pat);
    pat = compile_ok("^[^x]+$");
    assert_true(sl_pattern_match(pat, "\0\0", 2));
    sl_pattern_free(pat);
}

/* Backtracking engines take exponential time on these; the state set does not. */
static void pathological_patterns_finish(void **state)
{
    const size_t len = 100 * 1024;
    char *subject = repeat_char('a', len + 1);
    const char *srcs[] = {"(a*)*b", "(a|a)*b", "(a+)+b", "(a|aa)+$b", "^(a?){32}a{32}b"};
    for (size_t i = 0; i < sizeof(srcs) / sizeof(srcs[0]); i++) {
        struct sl_pattern *pat = compile_ok(srcs[i]);
        assert_false(sl_pattern_match(pat, subject, len));
        sl_pattern_free(pat);
    }
    subject[len] = 'b';
    struct sl_pattern *pat = compile_ok("(a*)*b");
    assert_true(sl_pattern_match(pat, subject, len + 1));
    sl_pattern_free(pat);
    pat = compile_ok("(a|a)*b$");
    assert_true(sl_pattern_match(pat, subject, len + 1));
    sl_pattern_free(pat);
    free(subject);

    char *a32 = repeat_char('a', 32);
    assert_true(matches("^(a?){32}a{32}$", a32));
    free(a32);
}

static void anchored_pattern_rejects_long_subject(void **state)
{
    const size_t len = 100 * 1024;
    char *subject = repeat_char('a', len);
    struct sl_pattern *pat = compile_ok("^b");
    assert_false(sl_pattern_match(pat, subject, len));
    sl_pattern_free(pat);
    pat = compile_ok("^a*$");
    assert_true(sl_pattern_match(pat, subject, len));
    sl_pattern_free(pat);
    free(subject);
}

static void same_pattern_matches_repeatedly(void **state)
{
    struct sl_pattern *pat = compile_ok("^/v[12]/");
    for (int i = 0; i < 3; i++) {
        assert_true(sl_pattern_match(pat, "/v1/x", 5));
        assert_false(sl_pattern_match(pat, "/v3/x", 5));
    }
    sl_pattern_free(pat);
}

static void error_unbalanced_parens(void **state)
{
    expect_error("abcde)", "unbalanced ')' at offset 5");
    expect_error(")", "unbalanced ')' at offset 0");
    expect_error("(a))", "unbalanced ')' at offset 3");
    expect_error("(a", "unbalanced '(' at offset 0");
    expect_error("x((a)", "unbalanced '(' at offset 1");
}

static void error_nothing_to_repeat(void **state)
{
    expect_error("*a", "nothing to repeat at offset 0");
    expect_error("+", "nothing to repeat at offset 0");
    expect_error("?", "nothing to repeat at offset 0");
    expect_error("{2}", "nothing to repeat at offset 0");
    expect_error("a|*b", "nothing to repeat at offset 2");
    expect_error("(*a)", "nothing to repeat at offset 1");
    expect_error("(?:a)", "nothing to repeat at offset 1");
    expect_error("a**", "nothing to repeat at offset 2");
    expect_error("a{2}?", "nothing to repeat at offset 4");
    expect_error("^*", "nothing to repeat at offset 1");
    expect_error("a$+", "nothing to repeat at offset 2");
}

static void error_unterminated_bracket(void **state)
{
    expect_error("ab[cd", "unterminated '[' at offset 2");
    expect_error("[]", "unterminated '[' at offset 0");
    expect_error("[^]", "unterminated '[' at offset 0");
    expect_error("[a-", "unterminated '[' at offset 0");
    expect_error("[", "unterminated '[' at offset 0");
}

static void error_bad_bracket_contents(void **state)
{
    expect_error("x[z-a]", "bad range at offset 2");
    expect_error("[\\d-z]", "bad range at offset 1");
    expect_error("[a-\\w]", "bad range at offset 1");
    expect_error("[[:alpha:]]", "[:name:], [.x.] and [=x=] are not supported at offset 1");
    expect_error("[[=a=]]", "[:name:], [.x.] and [=x=] are not supported at offset 1");
}

static void error_escapes(void **state)
{
    expect_error("(a)b\\1", "back-references are not supported at offset 4");
    expect_error("\\9", "back-references are not supported at offset 0");
    expect_error("a\\q", "unsupported escape at offset 1");
    expect_error("\\n", "unsupported escape at offset 0");
    expect_error("\\D", "unsupported escape at offset 0");
    expect_error("\\0", "unsupported escape at offset 0");
    expect_error("[\\x]", "unsupported escape at offset 1");
    expect_error("ab\\", "trailing '\\' at offset 2");
    expect_error("[a\\", "trailing '\\' at offset 2");
}

static void error_repeat_bounds(void **state)
{
    expect_error("a{", "unterminated '{' at offset 1");
    expect_error("a{2", "unterminated '{' at offset 1");
    expect_error("a{x}", "bad repeat bound at offset 1");
    expect_error("a{}", "bad repeat bound at offset 1");
    expect_error("a{,3}", "bad repeat bound at offset 1");
    expect_error("a{1,2,3}", "bad repeat bound at offset 1");
    expect_error("a{1x}", "bad repeat bound at offset 1");
    expect_error("a{33}", "repeat count over 32 at offset 1");
    expect_error("a{1,33}", "repeat count over 32 at offset 1");
    expect_error("a{33,}", "repeat count over 32 at offset 1");
    expect_error("a{99999999999999999999}", "repeat count over 32 at offset 1");
    expect_error("ab{3,2}", "repeat bounds reversed at offset 2");
}

static void error_too_many_states(void **state)
{
    struct sl_pattern *pat = compile_ok("(a{32}){32}"); /* 1,024 states: fine */
    char *subject = repeat_char('a', 1024);
    assert_true(sl_pattern_match(pat, subject, 1024));
    assert_false(sl_pattern_match(pat, subject, 1023));
    sl_pattern_free(pat);
    free(subject);
    expect_error("(a{32}){32}(b{32}){32}", "pattern needs over 2048 states at offset 22");
    expect_error("((a|b){32}){32}", "pattern needs over 2048 states at offset 15");
}

static void error_too_long_or_too_deep(void **state)
{
    char *src = repeat_char('a', SL_PATTERN_MAX_SOURCE + 1);
    expect_error(src, "pattern longer than 1024 bytes at offset 1024");
    src[SL_PATTERN_MAX_SOURCE] = '\0';
    assert_true(matches(src, src));
    free(src);

    char deep[2 * 65 + 1];
    memset(deep, '(', 65);
    memset(deep + 65, ')', 65);
    deep[130] = '\0';
    expect_error(deep, "groups nested over 64 deep at offset 64");
    deep[129] = '\0';
    assert_true(matches(deep + 1, "")); /* 64 deep is fine */
}

static void error_message_is_truncated_to_err_len(void **state)
{
    struct sl_pattern *pat = NULL;
    char err[9];
    memset(err, 'x', sizeof(err));
    assert_int_equal(sl_pattern_compile("a)", &pat, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "unbalanc");
    assert_null(pat);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(literals_match_anywhere),
        cmocka_unit_test(empty_pattern_matches_everything),
        cmocka_unit_test(dot_matches_one_byte),
        cmocka_unit_test(caret_anchors_at_start),
        cmocka_unit_test(dollar_anchors_only_at_end),
        cmocka_unit_test(unanchored_search_finds_late_matches),
        cmocka_unit_test(alternation_binds_loosest),
        cmocka_unit_test(alternation_of_many_branches),
        cmocka_unit_test(empty_branches_match_empty),
        cmocka_unit_test(nested_groups),
        cmocka_unit_test(star_plus_question),
        cmocka_unit_test(bounded_repeats),
        cmocka_unit_test(repeat_bounds_up_to_32),
        cmocka_unit_test(bracket_ranges_and_sets),
        cmocka_unit_test(bracket_negation),
        cmocka_unit_test(bracket_close_first_is_literal),
        cmocka_unit_test(bracket_dash_first_or_last_is_literal),
        cmocka_unit_test(bracket_escapes),
        cmocka_unit_test(escapes),
        cmocka_unit_test(bytes_above_ascii_are_literal),
        cmocka_unit_test(subject_need_not_be_nul_terminated),
        cmocka_unit_test(embedded_nul_is_an_ordinary_byte),
        cmocka_unit_test(pathological_patterns_finish),
        cmocka_unit_test(anchored_pattern_rejects_long_subject),
        cmocka_unit_test(same_pattern_matches_repeatedly),
        cmocka_unit_test(error_unbalanced_parens),
        cmocka_unit_test(error_nothing_to_repeat),
        cmocka_unit_test(error_unterminated_bracket),
        cmocka_unit_test(error_bad_bracket_contents),
        cmocka_unit_test(error_escapes),
        cmocka_unit_test(error_repeat_bounds),
        cmocka_unit_test(error_too_many_states),
        cmocka_unit_test(error_too_long_or_too_deep),
        cmocka_unit_test(error_message_is_truncated_to_err_len),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
