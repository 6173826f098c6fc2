/* Regular expressions for rule matchers, compiled once at config load.
 *
 * The syntax is the POSIX extended (ERE) subset that routing needs: literals,
 * '.', bracket expressions with ranges and negation ("[a-z0-9_]", "[^/]"),
 * the escapes \. \/ \\ and the like for any punctuation, \d \w \s, grouping
 * "( )", alternation '|', the repeats '*' '+' '?' and bounded "{m}", "{m,}",
 * "{m,n}" (n <= 32), and the anchors '^' and '$'. Without '^' a pattern may
 * match anywhere (unanchored search), as with regexec. No back-references.
 *
 * Matching is a Thompson NFA simulation over a state set sized at compile
 * time: linear in the subject length, no backtracking (a hostile path cannot
 * make it slow), and no allocation per match. */
#ifndef SL_PATTERN_H
#define SL_PATTERN_H

#include <stdbool.h>
#include <stddef.h>

#define SL_PATTERN_MAX_SOURCE 1024 /* bytes of pattern text */

struct sl_pattern; /* opaque */

/* Compiles src (NUL-terminated). On success returns 0 and *out, which the
 * caller frees with sl_pattern_free. On failure returns -EINVAL (with a short
 * reason, naming the offending character's offset, written into err) or
 * -ENOMEM; *out is untouched. */
int sl_pattern_compile(const char *src, struct sl_pattern **out, char *err, size_t err_len);

void sl_pattern_free(struct sl_pattern *pat);

/* Whether pat matches subject[0..len) (which need not be NUL-terminated). Safe
 * to call concurrently from several threads on the same pattern. */
bool sl_pattern_match(const struct sl_pattern *pat, const char *subject, size_t len);

#endif
