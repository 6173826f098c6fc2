/* The key-table engine of the config loader: see config_keys.h. */
#include "config_keys.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arena.h"

static const char *const type_what[] = {
    [KEY_UINT] = "a whole number",
    [KEY_BOOL] = "true or false",
    [KEY_LOG_LEVEL] = "one of error, warn, info, debug",
    [KEY_ADDR] = "an address (IP:port, [IPv6]:port or unix:/path)",
    [KEY_ADDR_LIST] = "a sequence of addresses",
    [KEY_FILE] = "a file path",
    [KEY_NAME] = "a name",
    [KEY_STRING] = "a string",
    [KEY_STRING_LIST] = "a string or a sequence of strings",
    [KEY_PATH_LIST] = "a path starting with '/' or a sequence of them",
    [KEY_BACKEND] = "a backend name",
    [KEY_MAPPING] = "a mapping",
    [KEY_LIST] = "a sequence of mappings",
};

int sl_config_fail(struct loader *ld, unsigned line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sl_config_verror(ld->err, ld->err_len, ld->path, line, fmt, ap);
    va_end(ap);
    return -1;
}

int sl_config_fail_oom(struct loader *ld)
{
    return sl_config_oom(ld->err, ld->err_len, ld->path);
}

void *sl_config_alloc_zero(struct loader *ld, struct sl_arena *arena, size_t size)
{
    void *p = sl_arena_alloc(arena, size);
    if (p == NULL) {
        sl_config_fail_oom(ld);
        return NULL;
    }
    memset(p, 0, size);
    return p;
}

/* ---- checking values against the tables ---- */

/* Writes how node looks, for "got ..." in messages: a quoted, shortened value
 * with control characters replaced, or what kind of thing it is. */
const char *sl_config_describe(const struct sl_yaml_node *node, char *buf, size_t buf_len)
{
    if (node->kind == SL_YAML_MAPPING)
        return "a mapping";
    if (node->kind == SL_YAML_SEQUENCE)
        return "a sequence";
    if (node->is_null)
        return "an empty value";
    size_t n = node->len < QUOTE_MAX_BYTES ? node->len : QUOTE_MAX_BYTES;
    if (n < node->len) {
        while (n > 0 && ((unsigned char)node->text[n] & 0xC0) == 0x80)
            n--; /* do not cut a UTF-8 sequence */
    }
    size_t at = 0;
    buf[at++] = '\'';
    for (size_t i = 0; i < n && at + 5 < buf_len; i++) {
        unsigned char c = (unsigned char)node->text[i];
        buf[at++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
    }
    if (n < node->len && at + 5 < buf_len) {
        memcpy(buf + at, "...", 3);
        at += 3;
    }
    buf[at++] = '\'';
    buf[at] = '\0';
    return buf;
}

const char *sl_config_label(const struct key *key)
{
    return key->label != NULL ? key->label : key->name;
}

int sl_config_fail_type(struct loader *ld, const struct key *key, const struct sl_yaml_node *value)
{
    char got[QUOTE_MAX_BYTES + 8];
    const char *what = key->type == KEY_CUSTOM ? key->what : type_what[key->type];
    return sl_config_fail(ld, value->line, "%s must be %s, got %s", sl_config_label(key), what,
                          sl_config_describe(value, got, sizeof(got)));
}

int sl_config_parse_choice(struct loader *ld, const struct key *key,
                           const struct sl_yaml_node *value, char *target, const char *const *names,
                           size_t count)
{
    for (int i = 0; value->kind == SL_YAML_SCALAR && (size_t)i < count; i++) {
        if (strcmp(value->text, names[i]) == 0) {
            memcpy(target + key->offset, &i, sizeof(i));
            return 0;
        }
    }
    return sl_config_fail_type(ld, key, value);
}

/* A scalar as a C string; empty values, collections and NUL bytes are refused. */
int sl_config_string(struct loader *ld, const struct key *key, const struct sl_yaml_node *value,
                     const char **out)
{
    if (value->kind != SL_YAML_SCALAR || value->is_null || value->len == 0)
        return sl_config_fail_type(ld, key, value);
    if (memchr(value->text, '\0', value->len) != NULL)
        return sl_config_fail(ld, value->line, "%s must not contain a NUL character",
                              sl_config_label(key));
    *out = value->text;
    return 0;
}

const struct sl_yaml_node *sl_config_nth(const struct sl_yaml_node *parent, size_t index)
{
    const struct sl_yaml_node *node = parent->first;
    while (index-- > 0)
        node = node->next;
    return node;
}

/* The value of key in a mapping node, or NULL. */
const struct sl_yaml_node *sl_config_find(const struct sl_yaml_node *map, const char *key)
{
    for (const struct sl_yaml_node *k = map->first; k != NULL; k = k->next->next) {
        if (k->kind == SL_YAML_SCALAR && strcmp(k->text, key) == 0)
            return k->next;
    }
    return NULL;
}

static int parse_uint(struct loader *ld, const struct key *key, const struct sl_yaml_node *value,
                      uint32_t *out)
{
    if (value->kind != SL_YAML_SCALAR || value->len == 0)
        return sl_config_fail_type(ld, key, value);
    uint64_t n = 0;
    for (size_t i = 0; i < value->len; i++) {
        char c = value->text[i];
        if (c < '0' || c > '9')
            return sl_config_fail_type(ld, key, value);
        if (n <= key->max) /* once above max it only has to stay there: no overflow */
            n = n * 10 + (uint64_t)(c - '0');
    }
    if (n < key->min || n > key->max) {
        return sl_config_fail(ld, value->line, "%s must be between %u and %u, got %.*s",
                              sl_config_label(key), key->min, key->max, QUOTE_MAX_BYTES,
                              value->text);
    }
    *out = (uint32_t)n;
    return 0;
}

/* what names the value in messages: "listener address", "servers entry". */
static int parse_addr(struct loader *ld, const char *what, const struct sl_yaml_node *value,
                      struct sl_addr *out)
{
    char got[QUOTE_MAX_BYTES + 8];
    if (value->kind != SL_YAML_SCALAR || value->is_null || value->len == 0) {
        return sl_config_fail(ld, value->line, "%s must be %s, got %s", what, type_what[KEY_ADDR],
                              sl_config_describe(value, got, sizeof(got)));
    }
    if (memchr(value->text, '\0', value->len) != NULL)
        return sl_config_fail(ld, value->line, "%s must not contain a NUL character", what);
    char reason[256];
    if (sl_addr_parse(value->text, out, reason, sizeof(reason)) < 0) {
        return sl_config_fail(ld, value->line, "%s %s is not valid: %s", what,
                              sl_config_describe(value, got, sizeof(got)), reason);
    }
    return 0;
}

static int parse_addr_list(struct loader *ld, const struct key *key,
                           const struct sl_yaml_node *value, char *target)
{
    if (value->kind != SL_YAML_SEQUENCE && !value->is_null)
        return sl_config_fail_type(ld, key, value);
    size_t count = value->kind == SL_YAML_SEQUENCE ? value->count : 0;
    if (count < key->min) {
        return sl_config_fail(ld, value->line, "%s must list at least %u address%s",
                              sl_config_label(key), key->min, key->min == 1 ? "" : "es");
    }
    struct sl_addr *addrs = sl_config_alloc_zero(ld, ld->cfg->arena, count * sizeof(*addrs));
    if (addrs == NULL)
        return -1;
    char what[64];
    snprintf(what, sizeof(what), "%s entry", sl_config_label(key));
    size_t i = 0;
    for (const struct sl_yaml_node *item = count > 0 ? value->first : NULL; item != NULL;
         item = item->next, i++) {
        if (parse_addr(ld, what, item, &addrs[i]) < 0)
            return -1;
    }
    memcpy(target + key->offset, &addrs, sizeof(addrs));
    memcpy(target + key->count_offset, &count, sizeof(count));
    return 0;
}

/* Relative paths are taken from the config file's directory, so that checking
 * a config gives the same answer from any working directory. */
static int parse_file(struct loader *ld, const struct key *key, const struct sl_yaml_node *value,
                      const char **out)
{
    const char *text;
    if (sl_config_string(ld, key, value, &text) < 0)
        return -1;
    const char *slash = strrchr(ld->path, '/');
    char *path;
    if (text[0] == '/' || slash == NULL) {
        path = sl_arena_strndup(ld->cfg->arena, text, value->len);
    } else {
        size_t dir_len = (size_t)(slash - ld->path) + 1;
        path = sl_arena_alloc(ld->cfg->arena, dir_len + value->len + 1);
        if (path != NULL) {
            memcpy(path, ld->path, dir_len);
            memcpy(path + dir_len, text, value->len + 1);
        }
    }
    if (path == NULL)
        return sl_config_fail_oom(ld);
    if (access(path, R_OK) < 0) {
        return sl_config_fail(ld, value->line, "%s '%s' cannot be read: %s", sl_config_label(key),
                              path, strerror(errno));
    }
    *out = path;
    return 0;
}

static bool is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
}

static int parse_name(struct loader *ld, const struct key *key, const struct sl_yaml_node *value,
                      const char **out)
{
    if (value->kind != SL_YAML_SCALAR || value->is_null)
        return sl_config_fail_type(ld, key, value);
    bool is_valid = value->len >= 1 && value->len <= NAME_MAX_BYTES;
    for (size_t i = 0; is_valid && i < value->len; i++)
        is_valid = is_name_char(value->text[i]);
    if (!is_valid) {
        char got[QUOTE_MAX_BYTES + 8];
        return sl_config_fail(
            ld, value->line, "%s must be 1 to %d characters from A-Z a-z 0-9 _ . -, got %s",
            sl_config_label(key), NAME_MAX_BYTES, sl_config_describe(value, got, sizeof(got)));
    }
    *out = sl_arena_strndup(ld->cfg->arena, value->text, value->len);
    return *out == NULL ? sl_config_fail_oom(ld) : 0;
}

static int parse_bool(struct loader *ld, const struct key *key, const struct sl_yaml_node *value,
                      bool *out)
{
    if (value->kind == SL_YAML_SCALAR && strcmp(value->text, "true") == 0)
        *out = true;
    else if (value->kind == SL_YAML_SCALAR && strcmp(value->text, "false") == 0)
        *out = false;
    else
        return sl_config_fail_type(ld, key, value);
    return 0;
}

/* Copies a scalar into the config arena; empty strings are allowed here (an
 * empty body), NUL bytes are not. */
static int parse_string(struct loader *ld, const struct key *key, const struct sl_yaml_node *value,
                        struct sl_string *out)
{
    if (value->kind != SL_YAML_SCALAR)
        return sl_config_fail_type(ld, key, value);
    if (memchr(value->text, '\0', value->len) != NULL)
        return sl_config_fail(ld, value->line, "%s must not contain a NUL character",
                              sl_config_label(key));
    if (key->max > 0 && value->len > key->max) {
        return sl_config_fail(ld, value->line, "%s must be at most %u bytes, got %zu",
                              sl_config_label(key), key->max, value->len);
    }
    char *copy = sl_arena_strndup(ld->cfg->arena, value->is_null ? "" : value->text,
                                  value->is_null ? 0 : value->len);
    if (copy == NULL)
        return sl_config_fail_oom(ld);
    *out = (struct sl_string){.text = copy, .len = value->is_null ? 0 : value->len};
    return 0;
}

/* One scalar, or a sequence of them: "method: GET" and "method: [GET, POST]". */
static int parse_string_list(struct loader *ld, const struct key *key,
                             const struct sl_yaml_node *value, char *target)
{
    bool is_one = value->kind == SL_YAML_SCALAR;
    if (!is_one && (value->kind != SL_YAML_SEQUENCE || value->count == 0))
        return sl_config_fail_type(ld, key, value);
    size_t count = is_one ? 1 : value->count;
    struct sl_string *items = sl_config_alloc_zero(ld, ld->cfg->arena, count * sizeof(*items));
    if (items == NULL)
        return -1;
    const struct sl_yaml_node *item = is_one ? value : value->first;
    for (size_t i = 0; i < count; i++, item = item->next) {
        const char *text = NULL;
        if (sl_config_string(ld, key, item, &text) < 0)
            return -1;
        if (key->type == KEY_PATH_LIST && text[0] != '/') {
            char got[QUOTE_MAX_BYTES + 8];
            return sl_config_fail(ld, item->line, "%s must start with '/', got %s",
                                  sl_config_label(key), sl_config_describe(item, got, sizeof(got)));
        }
        items[i].text = sl_arena_strndup(ld->cfg->arena, text, item->len);
        if (items[i].text == NULL)
            return sl_config_fail_oom(ld);
        items[i].len = item->len;
    }
    memcpy(target + key->offset, &items, sizeof(items));
    memcpy(target + key->count_offset, &count, sizeof(count));
    return 0;
}

int sl_config_lookup(struct loader *ld, const struct key *key, const struct sl_yaml_node *value,
                     const void *items, size_t count, size_t stride, size_t *index)
{
    const char *text = NULL;
    if (sl_config_string(ld, key, value, &text) < 0)
        return -1;
    const char *item = items;
    for (size_t i = 0; i < count; i++) {
        const char *name = *(const char *const *)(item + i * stride);
        if (name != NULL && strcmp(name, text) == 0) {
            *index = i;
            return 0;
        }
    }
    char defined[256];
    size_t at = 0;
    defined[0] = '\0';
    for (size_t i = 0; i < count && at < sizeof(defined); i++) {
        const char *name = *(const char *const *)(item + i * stride);
        if (name == NULL)
            continue;
        int n = snprintf(defined + at, sizeof(defined) - at, "%s%s", at > 0 ? ", " : "", name);
        at += n > 0 ? (size_t)n : 0;
    }
    char got[QUOTE_MAX_BYTES + 8];
    return sl_config_fail(ld, value->line, "%s %s is not defined (defined: %s)",
                          sl_config_label(key), sl_config_describe(value, got, sizeof(got)),
                          at > 0 ? defined : "none");
}

static int parse_backend_ref(struct loader *ld, const struct key *key,
                             const struct sl_yaml_node *value, const struct sl_backend_config **out)
{
    const struct sl_config *cfg = ld->cfg;
    size_t i = 0;
    if (sl_config_lookup(ld, key, value, cfg->backends, cfg->backend_count, sizeof(*cfg->backends),
                         &i) < 0)
        return -1;
    *out = &cfg->backends[i];
    return 0;
}

static int parse_list(struct loader *ld, const struct key *key, const struct sl_yaml_node *value,
                      char *target)
{
    if (value->kind != SL_YAML_SEQUENCE && !value->is_null)
        return sl_config_fail_type(ld, key, value);
    size_t count = value->kind == SL_YAML_SEQUENCE ? value->count : 0;
    if (count < key->min) {
        return sl_config_fail(ld, value->line, "%s must have at least %u entr%s",
                              sl_config_label(key), key->min, key->min == 1 ? "y" : "ies");
    }
    if (key->max > 0 && count > key->max) { /* classes: policy/ sizes arrays by SL_CLASS_MAX */
        return sl_config_fail(ld, value->line, "%s must have at most %u entr%s",
                              sl_config_label(key), key->max, key->max == 1 ? "y" : "ies");
    }
    const struct kind *sub = key->sub;
    char *items = NULL;
    if (count > 0) {
        items = sl_config_alloc_zero(ld, ld->cfg->arena, count * sub->target_size);
        if (items == NULL)
            return -1;
    }
    size_t i = 0;
    for (const struct sl_yaml_node *item = count > 0 ? value->first : NULL; item != NULL;
         item = item->next, i++) {
        if (item->kind != SL_YAML_MAPPING) {
            char got[QUOTE_MAX_BYTES + 8];
            return sl_config_fail(ld, item->line, "each %s entry must be a mapping, got %s",
                                  sl_config_label(key), sl_config_describe(item, got, sizeof(got)));
        }
        if (sl_config_apply_kind(ld, sub, item, items + i * sub->target_size) < 0)
            return -1;
        if (sub->check != NULL && sub->check(ld, value, items, i) < 0)
            return -1;
    }
    memcpy(target + key->offset, &items, sizeof(items));
    memcpy(target + key->count_offset, &count, sizeof(count));
    return 0;
}

static int apply_value(struct loader *ld, const struct key *key, const struct sl_yaml_node *value,
                       char *target)
{
    void *field = target + key->offset;
    switch (key->type) {
    case KEY_UINT:
        return parse_uint(ld, key, value, field);
    case KEY_BOOL:
        return parse_bool(ld, key, value, field);
    case KEY_STRING:
        return parse_string(ld, key, value, field);
    case KEY_STRING_LIST:
    case KEY_PATH_LIST:
        return parse_string_list(ld, key, value, target);
    case KEY_CUSTOM:
        return key->parse(ld, key, value, target);
    case KEY_LOG_LEVEL: {
        enum sl_log_level level;
        if (value->kind != SL_YAML_SCALAR || value->is_null ||
            sl_log_level_parse(value->text, &level) < 0)
            return sl_config_fail_type(ld, key, value);
        *(enum sl_log_level *)field = level;
        return 0;
    }
    case KEY_ADDR:
        return parse_addr(ld, sl_config_label(key), value, field);
    case KEY_ADDR_LIST:
        return parse_addr_list(ld, key, value, target);
    case KEY_FILE:
        return parse_file(ld, key, value, field);
    case KEY_NAME:
        return parse_name(ld, key, value, field);
    case KEY_BACKEND:
        return parse_backend_ref(ld, key, value, field);
    case KEY_MAPPING:
        if (value->kind != SL_YAML_MAPPING)
            return sl_config_fail_type(ld, key, value);
        return sl_config_apply_kind(ld, key->sub, value, target);
    case KEY_LIST:
        return parse_list(ld, key, value, target);
    }
    return sl_config_fail(ld, value->line, "%s has an unknown type", key->name);
}

static void apply_default(const struct key *key, char *target)
{
    if (key->type == KEY_UINT)
        *(uint32_t *)(target + key->offset) = key->def;
    else if (key->type == KEY_BOOL)
        *(bool *)(target + key->offset) = key->def != 0;
    else if (key->type == KEY_LOG_LEVEL)
        *(enum sl_log_level *)(target + key->offset) = (enum sl_log_level)key->def;
    else if (key->type == KEY_MAPPING) /* an absent mapping is all its defaults */
        for (size_t i = 0; i < key->sub->key_count; i++)
            apply_default(&key->sub->keys[i], target);
    /* everything else defaults to zero/NULL; kind checks fill in the rest */
}

static int fail_unknown_key(struct loader *ld, const struct kind *kind,
                            const struct sl_yaml_node *key)
{
    char expected[1024]; /* every key of the largest table */
    size_t at = 0;
    expected[0] = '\0';
    for (size_t i = 0; i < kind->key_count && at < sizeof(expected); i++) {
        int n = snprintf(expected + at, sizeof(expected) - at, "%s%s", i > 0 ? ", " : "",
                         kind->keys[i].name);
        at += n > 0 ? (size_t)n : 0;
    }
    char got[QUOTE_MAX_BYTES + 8];
    if (key->kind != SL_YAML_SCALAR) {
        return sl_config_fail(ld, key->line, "a key in %s must be a word, got %s (expected: %s)",
                              kind->noun, sl_config_describe(key, got, sizeof(got)), expected);
    }
    return sl_config_fail(ld, key->line, "unknown key %s in %s (expected: %s)",
                          sl_config_describe(key, got, sizeof(got)), kind->noun, expected);
}

int sl_config_apply_kind(struct loader *ld, const struct kind *kind, const struct sl_yaml_node *map,
                         void *target)
{
    const struct sl_yaml_node *keys[KEYS_MAX] = {0};
    for (const struct sl_yaml_node *k = map->first; k != NULL; k = k->next->next) {
        size_t i = 0;
        while (i < kind->key_count &&
               (k->kind != SL_YAML_SCALAR || strcmp(k->text, kind->keys[i].name) != 0))
            i++;
        if (i == kind->key_count)
            return fail_unknown_key(ld, kind, k);
        if (keys[i] != NULL) {
            return sl_config_fail(ld, k->line, "duplicate key '%s' in %s (first set at line %u)",
                                  k->text, kind->noun, keys[i]->line);
        }
        keys[i] = k;
    }
    for (size_t i = 0; i < kind->key_count; i++) {
        const struct key *key = &kind->keys[i];
        if (keys[i] != NULL) {
            if (apply_value(ld, key, keys[i]->next, target) < 0)
                return -1;
        } else if (key->is_required) {
            return sl_config_fail(ld, map->line, "%s is missing required key '%s'", kind->noun,
                                  key->name);
        } else {
            apply_default(key, target);
        }
    }
    return 0;
}