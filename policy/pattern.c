/* Regular expressions as a Thompson NFA, matched by simulating all of its
 * states at once (a Pike VM without captures).
 *
 * Program. The parser emits instructions straight into an array:
 *   CHAR b, ANY, CLASS k   consume one subject byte (CLASS: a 256-bit set);
 *   BOL, EOL               pass only at position 0 / at the subject's end;
 *   JMP x, SPLIT x y       epsilon edges; SPLIT continues at both targets;
 *   MATCH                  the pattern has matched.
 * Jump targets are relative to the jumping instruction, and no jump leaves the
 * fragment (atom, group) it was emitted for except to the fragment's end. So a
 * fragment is position-independent: a quantifier inserts a SPLIT in front of
 * it with one memmove, and a bounded repeat {m,n} is expanded by copying the
 * fragment n times.
 *
 * States. A state is an instruction index. A thread list holds the consuming
 * states the NFA is in before the next subject byte, and a bitmap of every
 * state visited while it was built (the epsilon closure). The bitmap is what
 * ends loops such as (a*)*: a state is entered at most once per list.
 *
 * Why linear. Each subject byte moves every listed state once, and each state
 * enters the next list at most once, so a byte costs O(program length) and a
 * match O(subject length * program length), whatever the subject holds: there
 * is no backtracking to exploit. The program is capped at
 * SL_PATTERN_MAX_STATES instructions, which sizes the two lists and the
 * closure stack that sl_pattern_match keeps on its own stack (about 13 KiB):
 * matching allocates nothing and writes nothing shared.
 *
 * Search is unanchored: a thread starts at every position unless the program
 * begins with BOL, in which case the match fails as soon as the list is empty.
 *
 * Matching is bytewise and case-sensitive: '.' and "[^/]" take one byte, not
 * one UTF-8 character. Inside brackets '\' escapes as it does outside
 * ("[\]\d]"), as in PCRE rather than POSIX. */
#include "pattern.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SL_PATTERN_MAX_STATES 2048 /* program instructions */
#define SL_PATTERN_MAX_REPEAT 32   /* largest m or n in {m,n} */
#define SL_PATTERN_MAX_DEPTH 64    /* nested groups: bounds the parser's recursion */
/* every class takes two source bytes or more ("\d", "[a]") */
#define SL_PATTERN_MAX_CLASSES (SL_PATTERN_MAX_SOURCE / 2)
#define REPEAT_UNBOUNDED UINT_MAX

_Static_assert(SL_PATTERN_MAX_STATES <= INT16_MAX, "jump offsets are int16_t");
_Static_assert(SL_PATTERN_MAX_STATES % 64 == 0, "the visited bitmap is in 64-bit words");

enum op {
    OP_CHAR,
    OP_ANY,
    OP_CLASS,
    OP_BOL,
    OP_EOL,
    OP_JMP,
    OP_SPLIT,
    OP_MATCH,
};

struct inst {
    uint8_t op;
    uint8_t byte;         /* OP_CHAR */
    uint16_t class_index; /* OP_CLASS */
    int16_t x, y;         /* OP_JMP, OP_SPLIT: targets, relative to this instruction */
};

struct byte_set {
    uint64_t bits[4];
};

/* One allocation: the header, the classes, then the program. Immutable once
 * compiled, hence shareable between threads. */
struct sl_pattern {
    const struct inst *prog;
    size_t prog_len;
    bool is_anchored; /* prog[0] is BOL: only position 0 can start a match */
    struct byte_set classes[];
};

/* Parser state; heap-allocated, the arrays being too large for a stack. */
struct compiler {
    const char *src;
    size_t src_len;
    size_t pos;
    unsigned depth;
    char *err;
    size_t err_len;
    size_t prog_len;
    size_t class_count;
    struct inst prog[SL_PATTERN_MAX_STATES];
    struct byte_set classes[SL_PATTERN_MAX_CLASSES];
};

/* ---- byte sets ---- */

static void add_byte(struct byte_set *set, unsigned byte)
{
    set->bits[byte / 64] |= (uint64_t)1 << (byte % 64);
}

static void add_range(struct byte_set *set, unsigned lo, unsigned hi)
{
    for (unsigned byte = lo; byte <= hi; byte++)
        add_byte(set, byte);
}

static bool has_byte(const struct byte_set *set, unsigned char byte)
{
    return (set->bits[byte / 64] >> (byte % 64)) & 1;
}

static void invert(struct byte_set *set)
{
    for (size_t i = 0; i < 4; i++)
        set->bits[i] = ~set->bits[i];
}

/* \d \w \s; false for any other name */
static bool add_named_class(struct byte_set *set, char name)
{
    switch (name) {
    case 'd':
        add_range(set, '0', '9');
        return true;
    case 'w':
        add_range(set, 'a', 'z');
        add_range(set, 'A', 'Z');
        add_range(set, '0', '9');
        add_byte(set, '_');
        return true;
    case 's':
        add_byte(set, ' ');
        add_range(set, '\t', '\r'); /* \t \n \v \f \r */
        return true;
    default:
        return false;
    }
}

/* ASCII punctuation, by hand: <ctype.h> would depend on the locale */
static bool is_punct(char ch)
{
    bool is_alnum =
        (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
    return ch > ' ' && ch < 0x7f && !is_alnum;
}

static bool is_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

/* ---- emitting ---- */

static int fail(struct compiler *c, size_t offset, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes "<reason> at offset N" into err; returns -EINVAL */
static int fail(struct compiler *c, size_t offset, const char *fmt, ...)
{
    if (c->err == NULL || c->err_len == 0)
        return -EINVAL;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, c->err_len, fmt, ap);
    va_end(ap);
    size_t used = strlen(c->err);
    snprintf(c->err + used, c->err_len - used, " at offset %zu", offset);
    return -EINVAL;
}

static int reserve(struct compiler *c, size_t count)
{
    if (count > SL_PATTERN_MAX_STATES - c->prog_len)
        return fail(c, c->pos, "pattern needs over %d states", SL_PATTERN_MAX_STATES);
    return 0;
}

static int emit(struct compiler *c, struct inst in)
{
    int rc = reserve(c, 1);
    if (rc == 0)
        c->prog[c->prog_len++] = in;
    return rc;
}

static int emit_class(struct compiler *c, const struct byte_set *set)
{
    if (c->class_count == SL_PATTERN_MAX_CLASSES)
        return fail(c, c->pos, "too many classes");
    c->classes[c->class_count] = *set;
    return emit(c, (struct inst){.op = OP_CLASS, .class_index = (uint16_t)c->class_count++});
}

static int insert_split(struct compiler *c, size_t at, int x, int y)
{
    int rc = reserve(c, 1);
    if (rc != 0)
        return rc;
    memmove(&c->prog[at + 1], &c->prog[at], (c->prog_len - at) * sizeof(c->prog[0]));
    c->prog[at] = (struct inst){.op = OP_SPLIT, .x = (int16_t)x, .y = (int16_t)y};
    c->prog_len++;
    return 0;
}

static int copy_fragment(struct compiler *c, size_t start, size_t len)
{
    int rc = reserve(c, len);
    if (rc == 0) {
        memcpy(&c->prog[c->prog_len], &c->prog[start], len * sizeof(c->prog[0]));
        c->prog_len += len;
    }
    return rc;
}

/* L: SPLIT L+1, out; e; JMP L; out: */
static int emit_star(struct compiler *c, size_t start)
{
    int len = (int)(c->prog_len - start);
    int rc = insert_split(c, start, 1, len + 2);
    return rc ? rc : emit(c, (struct inst){.op = OP_JMP, .x = (int16_t) - (len + 1)});
}

/* L: e; SPLIT L, out; out: */
static int emit_plus(struct compiler *c, size_t start)
{
    int len = (int)(c->prog_len - start);
    return emit(c, (struct inst){.op = OP_SPLIT, .x = (int16_t)-len, .y = 1});
}

/* SPLIT over everything from at to the current end */
static int emit_skip_to_end(struct compiler *c, size_t at)
{
    return insert_split(c, at, 1, (int)(c->prog_len + 1 - at));
}

/* The fragment from start to the end becomes e{min,max}: min copies of e, then
 * e* when max is unbounded, else max - min nested optional copies, so that
 * e{1,3} is e(e(e)?)? and skipping one copy skips the rest. */
static int emit_repeat(struct compiler *c, size_t start, unsigned min, unsigned max)
{
    size_t len = c->prog_len - start;
    if (max == 0) {
        c->prog_len = start;
        return 0;
    }
    unsigned copies = max != REPEAT_UNBOUNDED ? max : min > 0 ? min : 1;
    for (unsigned i = 1; i < copies; i++) {
        int rc = copy_fragment(c, start, len);
        if (rc != 0)
            return rc;
    }
    if (max == REPEAT_UNBOUNDED)
        return min > 0 ? emit_plus(c, c->prog_len - len) : emit_star(c, start);
    for (unsigned i = copies; i-- > min;) {
        int rc = emit_skip_to_end(c, start + i * len);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* ---- parsing ---- */

static bool at_end(const struct compiler *c)
{
    return c->pos >= c->src_len;
}

static bool at_quantifier(const struct compiler *c)
{
    if (at_end(c))
        return false;
    char ch = c->src[c->pos];
    return ch == '*' || ch == '+' || ch == '?' || ch == '{';
}

static int parse_alternation(struct compiler *c);

/* An escape at c->pos: punctuation stands for itself (*byte), while \d \w \s
 * add to set (*byte = -1). */
static int parse_escape(struct compiler *c, struct byte_set *set, int *byte)
{
    size_t at = c->pos;
    if (at + 1 >= c->src_len)
        return fail(c, at, "trailing '\\'");
    char name = c->src[at + 1];
    c->pos += 2;
    *byte = is_punct(name) ? (unsigned char)name : -1;
    if (*byte >= 0 || add_named_class(set, name))
        return 0;
    if (name >= '1' && name <= '9')
        return fail(c, at, "back-references are not supported");
    return fail(c, at, "unsupported escape");
}

static int parse_escape_atom(struct compiler *c)
{
    struct byte_set set = {{0}};
    int byte;
    int rc = parse_escape(c, &set, &byte);
    if (rc != 0)
        return rc;
    if (byte >= 0)
        return emit(c, (struct inst){.op = OP_CHAR, .byte = (uint8_t)byte});
    return emit_class(c, &set);
}

/* One byte of a bracket expression (*byte), or a class escape (*byte = -1) */
static int parse_bracket_byte(struct compiler *c, struct byte_set *set, int *byte)
{
    char ch = c->src[c->pos];
    if (ch == '\\')
        return parse_escape(c, set, byte);
    if (ch == '[' && c->pos + 1 < c->src_len && strchr(":.=", c->src[c->pos + 1]) != NULL)
        return fail(c, c->pos, "[:name:], [.x.] and [=x=] are not supported");
    c->pos++;
    *byte = (unsigned char)ch;
    return 0;
}

/* A '-' that is neither first nor last in the brackets makes a range */
static bool at_range_dash(const struct compiler *c)
{
    return c->pos + 1 < c->src_len && c->src[c->pos] == '-' && c->src[c->pos + 1] != ']';
}

/* One member of a bracket expression: a byte, an escape, or a range "a-z" */
static int parse_bracket_member(struct compiler *c, struct byte_set *set)
{
    size_t at = c->pos;
    int lo, hi;
    int rc = parse_bracket_byte(c, set, &lo);
    if (rc != 0 || !at_range_dash(c)) {
        if (rc == 0 && lo >= 0)
            add_byte(set, (unsigned)lo);
        return rc;
    }
    c->pos++;
    rc = parse_bracket_byte(c, set, &hi);
    if (rc != 0)
        return rc;
    if (lo < 0 || hi < lo)
        return fail(c, at, "bad range");
    add_range(set, (unsigned)lo, (unsigned)hi);
    return 0;
}

/* A ']' right after "[" or "[^" is a member, not the end */
static int parse_bracket(struct compiler *c)
{
    size_t open = c->pos++;
    bool is_negated = !at_end(c) && c->src[c->pos] == '^';
    if (is_negated)
        c->pos++;
    size_t first = c->pos;
    struct byte_set set = {{0}};
    for (;;) {
        if (at_end(c))
            return fail(c, open, "unterminated '['");
        if (c->src[c->pos] == ']' && c->pos > first)
            break;
        int rc = parse_bracket_member(c, &set);
        if (rc != 0)
            return rc;
    }
    c->pos++;
    if (is_negated)
        invert(&set);
    return emit_class(c, &set);
}

static int parse_group(struct compiler *c)
{
    size_t open = c->pos++;
    if (++c->depth > SL_PATTERN_MAX_DEPTH)
        return fail(c, open, "groups nested over %d deep", SL_PATTERN_MAX_DEPTH);
    int rc = parse_alternation(c);
    if (rc != 0)
        return rc;
    if (at_end(c))
        return fail(c, open, "unbalanced '('");
    c->pos++;
    c->depth--;
    return 0;
}

/* Anchors match a position, not text: repeating one is a mistake. */
static int parse_atom(struct compiler *c, bool *is_repeatable)
{
    char ch = c->src[c->pos];
    *is_repeatable = ch != '^' && ch != '$';
    switch (ch) {
    case '(':
        return parse_group(c);
    case '[':
        return parse_bracket(c);
    case '\\':
        return parse_escape_atom(c);
    case '*':
    case '+':
    case '?':
    case '{':
        return fail(c, c->pos, "nothing to repeat");
    }
    c->pos++;
    switch (ch) {
    case '.':
        return emit(c, (struct inst){.op = OP_ANY});
    case '^':
        return emit(c, (struct inst){.op = OP_BOL});
    case '$':
        return emit(c, (struct inst){.op = OP_EOL});
    default:
        return emit(c, (struct inst){.op = OP_CHAR, .byte = (uint8_t)ch});
    }
}

static int parse_count(struct compiler *c, size_t open, unsigned *out)
{
    if (!is_digit(c->src[c->pos]))
        return fail(c, open, "bad repeat bound");
    unsigned value = 0;
    for (; is_digit(c->src[c->pos]); c->pos++) {
        value = value * 10 + (unsigned)(c->src[c->pos] - '0');
        if (value > SL_PATTERN_MAX_REPEAT)
            return fail(c, open, "repeat count over %d", SL_PATTERN_MAX_REPEAT);
    }
    *out = value;
    return 0;
}

/* "{m}", "{m,}" or "{m,n}", c->pos being just past the '{' */
static int parse_bounds(struct compiler *c, unsigned *min, unsigned *max)
{
    size_t open = c->pos - 1;
    if (memchr(&c->src[c->pos], '}', c->src_len - c->pos) == NULL)
        return fail(c, open, "unterminated '{'");
    int rc = parse_count(c, open, min);
    *max = *min;
    if (rc == 0 && c->src[c->pos] == ',') {
        c->pos++;
        *max = REPEAT_UNBOUNDED;
        if (c->src[c->pos] != '}')
            rc = parse_count(c, open, max);
    }
    if (rc != 0)
        return rc;
    if (c->src[c->pos++] != '}')
        return fail(c, open, "bad repeat bound");
    if (*max < *min)
        return fail(c, open, "repeat bounds reversed");
    return 0;
}

static int parse_quantifier(struct compiler *c, unsigned *min, unsigned *max)
{
    char ch = c->src[c->pos++];
    *min = ch == '+' ? 1 : 0;
    *max = ch == '?' ? 1 : REPEAT_UNBOUNDED;
    return ch == '{' ? parse_bounds(c, min, max) : 0;
}

/* An atom and its quantifier; quantifiers do not stack ("a**", "a{2}?") */
static int parse_repeat(struct compiler *c)
{
    size_t start = c->prog_len;
    bool is_repeatable;
    int rc = parse_atom(c, &is_repeatable);
    if (rc != 0 || !at_quantifier(c))
        return rc;
    if (!is_repeatable)
        return fail(c, c->pos, "nothing to repeat");
    unsigned min, max;
    rc = parse_quantifier(c, &min, &max);
    if (rc != 0)
        return rc;
    if (at_quantifier(c))
        return fail(c, c->pos, "nothing to repeat");
    return emit_repeat(c, start, min, max);
}

static int parse_concatenation(struct compiler *c)
{
    while (!at_end(c) && c->src[c->pos] != '|' && c->src[c->pos] != ')') {
        int rc = parse_repeat(c);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* e1|e2 becomes SPLIT L1, L2; L1: e1; JMP out; L2: e2; out:. With more
 * branches the first two become the new e1, so jumps chain to the end. An
 * empty branch matches the empty string. */
static int parse_alternation(struct compiler *c)
{
    size_t start = c->prog_len;
    int rc = parse_concatenation(c);
    while (rc == 0 && !at_end(c) && c->src[c->pos] == '|') {
        c->pos++;
        size_t jmp = c->prog_len + 1; /* after the SPLIT goes in */
        rc = insert_split(c, start, 1, (int)(c->prog_len - start) + 2);
        if (rc == 0)
            rc = emit(c, (struct inst){.op = OP_JMP});
        if (rc == 0)
            rc = parse_concatenation(c);
        if (rc == 0)
            c->prog[jmp].x = (int16_t)(c->prog_len - jmp);
    }
    return rc;
}

static int compile_program(struct compiler *c)
{
    if (c->src_len > SL_PATTERN_MAX_SOURCE)
        return fail(c, SL_PATTERN_MAX_SOURCE, "pattern longer than %d bytes",
                    SL_PATTERN_MAX_SOURCE);
    int rc = parse_alternation(c);
    if (rc != 0)
        return rc;
    if (!at_end(c)) /* parse_alternation stops only at the end or a ')' */
        return fail(c, c->pos, "unbalanced ')'");
    return emit(c, (struct inst){.op = OP_MATCH});
}

static int build_pattern(const struct compiler *c, struct sl_pattern **out)
{
    size_t classes_size = c->class_count * sizeof(struct byte_set);
    size_t prog_size = c->prog_len * sizeof(struct inst);
    struct sl_pattern *pat = malloc(sizeof(*pat) + classes_size + prog_size);
    if (pat == NULL)
        return -ENOMEM;
    memcpy(pat->classes, c->classes, classes_size);
    struct inst *prog = (struct inst *)(pat->classes + c->class_count);
    memcpy(prog, c->prog, prog_size);
    pat->prog = prog;
    pat->prog_len = c->prog_len;
    pat->is_anchored = prog[0].op == OP_BOL;
    *out = pat;
    return 0;
}

int sl_pattern_compile(const char *src, struct sl_pattern **out, char *err, size_t err_len)
{
    struct compiler *c = malloc(sizeof(*c));
    if (c == NULL)
        return -ENOMEM;
    c->src = src;
    c->src_len = strlen(src);
    c->pos = 0;
    c->depth = 0;
    c->err = err;
    c->err_len = err_len;
    c->prog_len = 0;
    c->class_count = 0;
    int rc = compile_program(c);
    if (rc == 0)
        rc = build_pattern(c, out);
    free(c);
    return rc;
}

void sl_pattern_free(struct sl_pattern *pat)
{
    free(pat);
}

/* ---- matching ---- */

struct thread_list {
    uint64_t is_visited[SL_PATTERN_MAX_STATES / 64];
    uint16_t pcs[SL_PATTERN_MAX_STATES]; /* the consuming states */
    size_t count;
    bool has_match;
};

/* Everything one match needs; it lives on the matching thread's stack. */
struct run {
    const struct sl_pattern *pat;
    size_t subject_len;
    struct thread_list lists[2];
    uint16_t stack[SL_PATTERN_MAX_STATES]; /* pending states of a closure */
    size_t stack_len;
};

static void clear_list(const struct sl_pattern *pat, struct thread_list *list)
{
    memset(list->is_visited, 0, (pat->prog_len + 63) / 64 * sizeof(list->is_visited[0]));
    list->count = 0;
    list->has_match = false;
}

/* Each state is pushed once per list, which bounds the stack by the program. */
static void push(struct run *run, struct thread_list *list, size_t pc)
{
    uint64_t bit = (uint64_t)1 << (pc % 64);
    if (list->is_visited[pc / 64] & bit)
        return;
    list->is_visited[pc / 64] |= bit;
    run->stack[run->stack_len++] = (uint16_t)pc;
}

static size_t jump(size_t pc, int16_t offset)
{
    return (size_t)((ptrdiff_t)pc + offset);
}

/* Adds pc and every state reachable from it without consuming a byte, the
 * subject being at pos. */
static void add_closure(struct run *run, struct thread_list *list, size_t pc, size_t pos)
{
    push(run, list, pc);
    while (run->stack_len > 0) {
        pc = run->stack[--run->stack_len];
        const struct inst *in = &run->pat->prog[pc];
        switch (in->op) {
        case OP_JMP:
            push(run, list, jump(pc, in->x));
            break;
        case OP_SPLIT:
            push(run, list, jump(pc, in->y));
            push(run, list, jump(pc, in->x));
            break;
        case OP_BOL:
            if (pos == 0)
                push(run, list, pc + 1);
            break;
        case OP_EOL:
            if (pos == run->subject_len)
                push(run, list, pc + 1);
            break;
        case OP_MATCH:
            list->has_match = true;
            break;
        default:
            list->pcs[list->count++] = (uint16_t)pc;
        }
    }
}

static bool consumes(const struct sl_pattern *pat, const struct inst *in, unsigned char byte)
{
    switch (in->op) {
    case OP_CHAR:
        return in->byte == byte;
    case OP_ANY:
        return true;
    case OP_CLASS:
        return has_byte(&pat->classes[in->class_index], byte);
    default:
        return false;
    }
}

/* Moves every state of now over byte into next, the subject then being at pos */
static void step(struct run *run, const struct thread_list *now, struct thread_list *next,
                 unsigned char byte, size_t pos)
{
    for (size_t i = 0; i < now->count; i++) {
        size_t pc = now->pcs[i];
        if (consumes(run->pat, &run->pat->prog[pc], byte))
            add_closure(run, next, pc + 1, pos);
    }
}

bool sl_pattern_match(const struct sl_pattern *pat, const char *subject, size_t len)
{
    struct run run;
    run.pat = pat;
    run.subject_len = len;
    run.stack_len = 0;
    struct thread_list *now = &run.lists[0];
    struct thread_list *next = &run.lists[1];
    clear_list(pat, now);
    add_closure(&run, now, 0, 0);
    for (size_t pos = 0; pos < len && !now->has_match; pos++) {
        if (pat->is_anchored && now->count == 0)
            return false;
        clear_list(pat, next);
        step(&run, now, next, (unsigned char)subject[pos], pos + 1);
        if (!pat->is_anchored)
            add_closure(&run, next, 0, pos + 1);
        struct thread_list *done = now;
        now = next;
        next = done;
    }
    return now->has_match;
}
