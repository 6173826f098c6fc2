/* Reading the config file into a tree of YAML nodes (see config_yaml.h).
 *
 * libyaml's events are built into struct sl_yaml_node in the caller's arena,
 * which is where anchors, aliases, nesting depth and YAML syntax are refused.
 * libyaml's own error reports are turned into FILE:LINE messages with a hint
 * for the two mistakes people make most (tabs, unquoted IPv6). */
#include "config_yaml.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <yaml.h>

#include "arena.h"

#define FILE_MAX_BYTES (16u << 20) /* a config is a few kilobytes */
#define NESTING_MAX 32             /* the schema nests 4 deep; the rest is a mistake */

struct reader {
    const char *path;
    char *err;
    size_t err_len;
    unsigned char *text; /* the file */
    size_t text_len;
    yaml_parser_t parser;
    struct sl_arena *arena; /* the tree; the caller's */
};

static int fail(struct reader *rd, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

int sl_config_verror(char *err, size_t err_len, const char *path, unsigned line, const char *fmt,
                     va_list ap)
{
    if (err_len == 0)
        return -1;
    int n = snprintf(err, err_len, "%s:%u: ", path, line);
    if (n >= 0 && (size_t)n < err_len)
        vsnprintf(err + n, err_len - (size_t)n, fmt, ap);
    return -1;
}

int sl_config_oom(char *err, size_t err_len, const char *path)
{
    if (err_len > 0)
        snprintf(err, err_len, "%s: out of memory while loading the config", path);
    return -1;
}

static int fail(struct reader *rd, unsigned line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sl_config_verror(rd->err, rd->err_len, rd->path, line, fmt, ap);
    va_end(ap);
    return -1;
}

static int fail_oom(struct reader *rd)
{
    return sl_config_oom(rd->err, rd->err_len, rd->path);
}

static int read_file(struct reader *rd)
{
    int fd = open(rd->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(rd->err, rd->err_len, "%s: cannot open: %s", rd->path, strerror(errno));
        return -1;
    }
    size_t cap = 4096, len = 0;
    unsigned char *buf = malloc(cap);
    if (buf == NULL) {
        close(fd);
        return fail_oom(rd);
    }
    for (;;) {
        if (len == cap) {
            if (cap >= FILE_MAX_BYTES) {
                snprintf(rd->err, rd->err_len, "%s: is larger than %u MiB; is it a config file?",
                         rd->path, FILE_MAX_BYTES >> 20);
                goto fail;
            }
            unsigned char *bigger = malloc(cap * 2);
            if (bigger == NULL) {
                fail_oom(rd);
                goto fail;
            }
            memcpy(bigger, buf, len);
            free(buf);
            buf = bigger;
            cap *= 2;
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            snprintf(rd->err, rd->err_len, "%s: cannot read: %s", rd->path, strerror(errno));
            goto fail;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    rd->text = buf;
    rd->text_len = len;
    return 0;

fail:
    free(buf);
    close(fd);
    return -1;
}

/* "[::1]:80" unquoted starts a YAML flow sequence; say so rather than leave
 * the person with libyaml's "did not find expected node content". */
static bool has_bare_ipv6(const struct reader *rd, size_t at)
{
    size_t start = at < rd->text_len ? at : rd->text_len;
    while (start > 0 && rd->text[start - 1] != '\n')
        start--;
    for (size_t i = start; i + 2 < rd->text_len && rd->text[i] != '\n'; i++) {
        if (rd->text[i] == ']' && rd->text[i + 1] == ':' && rd->text[i + 2] >= '0' &&
            rd->text[i + 2] <= '9')
            return true;
    }
    return false;
}

static int fail_yaml(struct reader *rd)
{
    const yaml_parser_t *p = &rd->parser;
    if (p->error == YAML_MEMORY_ERROR)
        return fail_oom(rd);
    unsigned line = (unsigned)p->problem_mark.line + 1;
    if (p->error == YAML_READER_ERROR) {
        /* reader errors (bad encoding) carry a byte offset, not a mark */
        line = 1;
        for (size_t i = 0; i < p->problem_offset && i < rd->text_len; i++)
            line += rd->text[i] == '\n';
    }
    /* at the end of the file libyaml points past the last line */
    unsigned last_line = 1;
    for (size_t i = 0; i + 1 < rd->text_len; i++)
        last_line += rd->text[i] == '\n';
    if (line > last_line)
        line = last_line;
    const char *problem = p->problem != NULL ? p->problem : "unknown problem";
    size_t at = p->problem_mark.index;
    const char *hint = "";
    if (p->error == YAML_SCANNER_ERROR && at < rd->text_len && rd->text[at] == '\t')
        hint = "; YAML indents with spaces, not tabs";
    else if (p->error == YAML_PARSER_ERROR && has_bare_ipv6(rd, at))
        hint = "; an IPv6 address must be quoted, e.g. \"[::1]:8080\"";
    if (p->context != NULL) {
        return fail(rd, line, "YAML syntax error: %s (%s at line %u)%s", problem, p->context,
                    (unsigned)p->context_mark.line + 1, hint);
    }
    return fail(rd, line, "YAML syntax error: %s%s", problem, hint);
}

static int next_event(struct reader *rd, yaml_event_t *ev)
{
    if (!yaml_parser_parse(&rd->parser, ev))
        return fail_yaml(rd);
    return 0;
}

static bool is_null_scalar(const char *text, size_t len)
{
    return len == 0 || strcmp(text, "~") == 0 || strcmp(text, "null") == 0 ||
           strcmp(text, "Null") == 0 || strcmp(text, "NULL") == 0;
}

/* Builds the node that ev starts, consuming the events up to its end.
 * Takes ownership of ev. */
static int build_node(struct reader *rd, yaml_event_t *ev, int depth, struct sl_yaml_node **out)
{
    int rc = -1;
    unsigned line = (unsigned)ev->start_mark.line + 1;
    const yaml_char_t *anchor = NULL;
    enum sl_yaml_kind kind;
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        kind = SL_YAML_SCALAR;
        anchor = ev->data.scalar.anchor;
        break;
    case YAML_SEQUENCE_START_EVENT:
        kind = SL_YAML_SEQUENCE;
        anchor = ev->data.sequence_start.anchor;
        break;
    case YAML_MAPPING_START_EVENT:
        kind = SL_YAML_MAPPING;
        anchor = ev->data.mapping_start.anchor;
        break;
    case YAML_ALIAS_EVENT:
        fail(rd, line, "aliases (*%.64s) are not supported; write the value out in full",
             (const char *)ev->data.alias.anchor);
        goto out;
    default:
        fail(rd, line, "YAML syntax error: unexpected event %d", (int)ev->type);
        goto out;
    }
    if (anchor != NULL) {
        fail(rd, line, "anchors (&%.64s) are not supported; write the value out in full",
             (const char *)anchor);
        goto out;
    }
    if (depth > NESTING_MAX) {
        fail(rd, line, "values are nested more than %d levels deep", NESTING_MAX);
        goto out;
    }
    struct sl_yaml_node *node = sl_arena_alloc(rd->arena, sizeof(*node));
    if (node == NULL) {
        fail_oom(rd);
        goto out;
    }
    memset(node, 0, sizeof(*node));
    node->kind = kind;
    node->line = line;
    if (kind == SL_YAML_SCALAR) {
        node->len = ev->data.scalar.length;
        node->text = sl_arena_strndup(rd->arena, (const char *)ev->data.scalar.value, node->len);
        if (node->text == NULL) {
            fail_oom(rd);
            goto out;
        }
        node->is_null = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
                        is_null_scalar(node->text, node->len);
        *out = node;
        rc = 0;
        goto out;
    }
    yaml_event_type_t end =
        kind == SL_YAML_SEQUENCE ? YAML_SEQUENCE_END_EVENT : YAML_MAPPING_END_EVENT;
    yaml_event_delete(ev);
    for (;;) {
        if (next_event(rd, ev) < 0)
            return -1;
        if (ev->type == end)
            break;
        struct sl_yaml_node *child;
        if (build_node(rd, ev, depth + 1, &child) < 0)
            return -1;
        if (node->last == NULL)
            node->first = child;
        else
            node->last->next = child;
        node->last = child;
        node->count++;
    }
    if (kind == SL_YAML_MAPPING)
        node->count /= 2;
    *out = node;
    rc = 0;
out:
    yaml_event_delete(ev);
    return rc;
}

/* The one document of the file; NULL root when the file holds nothing. */
static int build_tree(struct reader *rd, struct sl_yaml_node **root)
{
    yaml_event_t ev;
    if (next_event(rd, &ev) < 0) /* stream start */
        return -1;
    yaml_event_delete(&ev);
    if (next_event(rd, &ev) < 0)
        return -1;
    if (ev.type == YAML_STREAM_END_EVENT) {
        yaml_event_delete(&ev);
        *root = NULL;
        return 0;
    }
    yaml_event_delete(&ev); /* document start */
    if (next_event(rd, &ev) < 0 || build_node(rd, &ev, 0, root) < 0)
        return -1;
    if (next_event(rd, &ev) < 0) /* document end */
        return -1;
    yaml_event_delete(&ev);
    if (next_event(rd, &ev) < 0)
        return -1;
    unsigned line = (unsigned)ev.start_mark.line + 1;
    bool is_more = ev.type == YAML_DOCUMENT_START_EVENT;
    yaml_event_delete(&ev);
    if (is_more)
        return fail(rd, line, "a second YAML document starts here; put all settings in one");
    return 0;
}

int sl_yaml_load(const char *path, struct sl_arena *arena, const struct sl_yaml_node **root,
                 struct sl_yaml_text *text, char *err, size_t err_len)
{
    struct reader rd = {.path = path, .err = err, .err_len = err_len, .arena = arena};
    if (read_file(&rd) < 0)
        return -1;
    int rc = -1;
    if (!yaml_parser_initialize(&rd.parser)) {
        fail_oom(&rd);
        goto out;
    }
    yaml_parser_set_input_string(&rd.parser, rd.text, rd.text_len);
    struct sl_yaml_node *tree;
    rc = build_tree(&rd, &tree);
    yaml_parser_delete(&rd.parser);
    if (rc == 0) {
        text->bytes = sl_arena_strndup(arena, (const char *)rd.text, rd.text_len);
        text->len = rd.text_len;
        if (text->bytes == NULL)
            rc = fail_oom(&rd);
        else
            *root = tree;
    }
out:
    free(rd.text);
    return rc;
}
