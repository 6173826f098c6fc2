/* Loading the YAML config.
 *
 * Two passes. First config_yaml.c reads the file into a small tree (struct
 * sl_yaml_node) in a scratch arena, which is where anchors, aliases, nesting
 * depth and YAML syntax are refused. Then each mapping is checked against its
 * key table (struct key): unknown and duplicate keys, types, ranges, defaults
 * and required keys all come from the table, which is also what docs/config.md
 * and conf/sluice.yaml are written from. Keys are applied in table order, not file
 * order, so backends exist by the time a route or default_backend names one.
 *
 * Everything the config keeps is allocated from cfg->arena; the tree and the
 * file text are freed before sl_config_load() returns. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arena.h"
#include "config_yaml.h"

#define KEYS_MAX 16        /* keys in one table */
#define NAME_MAX_BYTES 64  /* backend names */
#define QUOTE_MAX_BYTES 64 /* of a value quoted back in a message */

struct loader {
    const char *path;
    char *err;
    size_t err_len;
    struct sl_config *cfg;
};

enum key_type {
    KEY_UINT,      /* uint32_t in min..max */
    KEY_LOG_LEVEL, /* enum sl_log_level */
    KEY_ADDR,      /* struct sl_addr */
    KEY_ADDR_LIST, /* struct sl_addr * and a size_t count of at least min */
    KEY_FILE,      /* const char *, readable now; relative to the config file */
    KEY_NAME,      /* const char *, [A-Za-z0-9_.-]{1,64} */
    KEY_PREFIX,    /* const char * and a size_t length; starts with '/' */
    KEY_BACKEND,   /* const struct sl_backend_config *, by name */
    KEY_MAPPING,   /* sub's keys, written into the same target */
    KEY_LIST,      /* an array of sub's targets and a size_t count of at least min */
};

static const char *const type_what[] = {
    [KEY_UINT] = "a whole number",
    [KEY_LOG_LEVEL] = "one of error, warn, info, debug",
    [KEY_ADDR] = "an address (IP:port, [IPv6]:port or unix:/path)",
    [KEY_ADDR_LIST] = "a sequence of addresses",
    [KEY_FILE] = "a file path",
    [KEY_NAME] = "a name",
    [KEY_PREFIX] = "a path prefix starting with '/'",
    [KEY_BACKEND] = "a backend name",
    [KEY_MAPPING] = "a mapping",
    [KEY_LIST] = "a sequence of mappings",
};

struct kind;

/* One row per key: validation, defaults and docs all read this. */
struct key {
    const char *name;
    const char *label; /* subject of messages when the name alone is vague; NULL: name */
    enum key_type type;
    bool is_required;
    uint32_t def; /* KEY_UINT, KEY_LOG_LEVEL */
    uint32_t min; /* KEY_UINT; for lists, the fewest entries */
    uint32_t max;
    const char *def_text; /* the default in words, for the docs */
    size_t offset;        /* of the value in the target struct */
    size_t count_offset;  /* KEY_ADDR_LIST, KEY_LIST: the count; KEY_PREFIX: the length */
    const struct kind *sub;
    const char *doc;
};

/* A kind of mapping (the top level, a listener, ...) and the struct it fills. */
struct kind {
    const char *noun;
    const struct key *keys;
    size_t key_count;
    size_t target_size;
    /* For list entries, checks against the earlier entries once entry index
     * of items is filled; seq is the YAML sequence, for line numbers. */
    int (*check)(struct loader *ld, const struct sl_yaml_node *seq, void *items, size_t index);
};

static int fail(struct loader *ld, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct loader *ld, unsigned line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sl_config_verror(ld->err, ld->err_len, ld->path, line, fmt, ap);
    va_end(ap);
    return -1;
}

static int fail_oom(struct loader *ld)
{
    return sl_config_oom(ld->err, ld->err_len, ld->path);
}

static void *alloc_zero(struct loader *ld, struct sl_arena *arena, size_t size)
{
    void *p = sl_arena_alloc(arena, size);
    if (p == NULL) {
        fail_oom(ld);
        return NULL;
    }
    memset(p, 0, size);
    return p;
}

/* ---- checking values against the tables ---- */

/* Writes how node looks, for "got ..." in messages: a quoted, shortened value
 * with control characters replaced, or what kind of thing it is. */
static const char *describe(const struct sl_yaml_node *node, char *buf, size_t buf_len)
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

static const char *label_of(const struct key *key)
{
    return key->label != NULL ? key->label : key->name;
}

static int fail_type(struct loader *ld, const struct key *key, const struct sl_yaml_node *value)
{
    char got[QUOTE_MAX_BYTES + 8];
    return fail(ld, value->line, "%s must be %s, got %s", label_of(key), type_what[key->type],
                describe(value, got, sizeof(got)));
}

/* A scalar as a C string; empty values, collections and NUL bytes are refused. */
static int string_value(struct loader *ld, const struct key *key, const struct sl_yaml_node *value,
                        const char **out)
{
    if (value->kind != SL_YAML_SCALAR || value->is_null || value->len == 0)
        return fail_type(ld, key, value);
    if (memchr(value->text, '\0', value->len) != NULL)
        return fail(ld, value->line, "%s must not contain a NUL character", label_of(key));
    *out = value->text;
    return 0;
}

static const struct sl_yaml_node *nth(const struct sl_yaml_node *parent, size_t index)
{
    const struct sl_yaml_node *node = parent->first;
    while (index-- > 0)
        node = node->next;
    return node;
}

/* The value of key in a mapping node, or NULL. */
static const struct sl_yaml_node *find_value(const struct sl_yaml_node *map, const char *key)
{
    for (const struct sl_yaml_node *k = map->first; k != NULL; k = k->next->next) {
        if (k->kind == SL_YAML_SCALAR && strcmp(k->text, key) == 0)
            return k->next;
    }
    return NULL;
}

static int apply_kind(struct loader *ld, const struct kind *kind, const struct sl_yaml_node *map,
                      void *target);

static int parse_uint(struct loader *ld, const struct key *key, const struct sl_yaml_node *value,
                      uint32_t *out)
{
    if (value->kind != SL_YAML_SCALAR || value->len == 0)
        return fail_type(ld, key, value);
    uint64_t n = 0;
    for (size_t i = 0; i < value->len; i++) {
        char c = value->text[i];
        if (c < '0' || c > '9')
            return fail_type(ld, key, value);
        if (n <= key->max) /* once above max it only has to stay there: no overflow */
            n = n * 10 + (uint64_t)(c - '0');
    }
    if (n < key->min || n > key->max) {
        return fail(ld, value->line, "%s must be between %u and %u, got %.*s", label_of(key),
                    key->min, key->max, QUOTE_MAX_BYTES, value->text);
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
        return fail(ld, value->line, "%s must be %s, got %s", what, type_what[KEY_ADDR],
                    describe(value, got, sizeof(got)));
    }
    if (memchr(value->text, '\0', value->len) != NULL)
        return fail(ld, value->line, "%s must not contain a NUL character", what);
    char reason[256];
    if (sl_addr_parse(value->text, out, reason, sizeof(reason)) < 0) {
        return fail(ld, value->line, "%s %s is not valid: %s", what,
                    describe(value, got, sizeof(got)), reason);
    }
    return 0;
}

static int parse_addr_list(struct loader *ld, const struct key *key,
                           const struct sl_yaml_node *value, char *target)
{
    if (value->kind != SL_YAML_SEQUENCE && !value->is_null)
        return fail_type(ld, key, value);
    size_t count = value->kind == SL_YAML_SEQUENCE ? value->count : 0;
    if (count < key->min) {
        return fail(ld, value->line, "%s must list at least %u address%s", label_of(key), key->min,
                    key->min == 1 ? "" : "es");
    }
    struct sl_addr *addrs = alloc_zero(ld, ld->cfg->arena, count * sizeof(*addrs));
    if (addrs == NULL)
        return -1;
    char what[64];
    snprintf(what, sizeof(what), "%s entry", label_of(key));
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
    if (string_value(ld, key, value, &text) < 0)
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
        return fail_oom(ld);
    if (access(path, R_OK) < 0) {
        return fail(ld, value->line, "%s '%s' cannot be read: %s", label_of(key), path,
                    strerror(errno));
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
        return fail_type(ld, key, value);
    bool is_valid = value->len >= 1 && value->len <= NAME_MAX_BYTES;
    for (size_t i = 0; is_valid && i < value->len; i++)
        is_valid = is_name_char(value->text[i]);
    if (!is_valid) {
        char got[QUOTE_MAX_BYTES + 8];
        return fail(ld, value->line, "%s must be 1 to %d characters from A-Z a-z 0-9 _ . -, got %s",
                    label_of(key), NAME_MAX_BYTES, describe(value, got, sizeof(got)));
    }
    *out = sl_arena_strndup(ld->cfg->arena, value->text, value->len);
    return *out == NULL ? fail_oom(ld) : 0;
}

static int parse_prefix(struct loader *ld, const struct key *key, const struct sl_yaml_node *value,
                        char *target)
{
    const char *text;
    if (string_value(ld, key, value, &text) < 0)
        return -1;
    if (text[0] != '/') {
        char got[QUOTE_MAX_BYTES + 8];
        return fail(ld, value->line, "%s must start with '/', got %s", label_of(key),
                    describe(value, got, sizeof(got)));
    }
    const char *copy = sl_arena_strndup(ld->cfg->arena, text, value->len);
    if (copy == NULL)
        return fail_oom(ld);
    memcpy(target + key->offset, &copy, sizeof(copy));
    memcpy(target + key->count_offset, &value->len, sizeof(value->len));
    return 0;
}

static int parse_backend_ref(struct loader *ld, const struct key *key,
                             const struct sl_yaml_node *value, const struct sl_backend_config **out)
{
    const char *text;
    if (string_value(ld, key, value, &text) < 0)
        return -1;
    const struct sl_config *cfg = ld->cfg;
    for (size_t i = 0; i < cfg->backend_count; i++) {
        if (strcmp(cfg->backends[i].name, text) == 0) {
            *out = &cfg->backends[i];
            return 0;
        }
    }
    char defined[256];
    size_t at = 0;
    defined[0] = '\0';
    for (size_t i = 0; i < cfg->backend_count && at < sizeof(defined); i++) {
        int n = snprintf(defined + at, sizeof(defined) - at, "%s%s", i > 0 ? ", " : "",
                         cfg->backends[i].name);
        at += n > 0 ? (size_t)n : 0;
    }
    char got[QUOTE_MAX_BYTES + 8];
    return fail(ld, value->line, "%s %s is not defined (defined: %s)", label_of(key),
                describe(value, got, sizeof(got)), defined);
}

static int parse_list(struct loader *ld, const struct key *key, const struct sl_yaml_node *value,
                      char *target)
{
    if (value->kind != SL_YAML_SEQUENCE && !value->is_null)
        return fail_type(ld, key, value);
    size_t count = value->kind == SL_YAML_SEQUENCE ? value->count : 0;
    if (count < key->min) {
        return fail(ld, value->line, "%s must have at least %u entr%s", label_of(key), key->min,
                    key->min == 1 ? "y" : "ies");
    }
    const struct kind *sub = key->sub;
    char *items = NULL;
    if (count > 0) {
        items = alloc_zero(ld, ld->cfg->arena, count * sub->target_size);
        if (items == NULL)
            return -1;
    }
    size_t i = 0;
    for (const struct sl_yaml_node *item = count > 0 ? value->first : NULL; item != NULL;
         item = item->next, i++) {
        if (item->kind != SL_YAML_MAPPING) {
            char got[QUOTE_MAX_BYTES + 8];
            return fail(ld, item->line, "each %s entry must be a mapping, got %s", label_of(key),
                        describe(item, got, sizeof(got)));
        }
        if (apply_kind(ld, sub, item, items + i * sub->target_size) < 0)
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
    case KEY_LOG_LEVEL: {
        enum sl_log_level level;
        if (value->kind != SL_YAML_SCALAR || value->is_null ||
            sl_log_level_parse(value->text, &level) < 0)
            return fail_type(ld, key, value);
        *(enum sl_log_level *)field = level;
        return 0;
    }
    case KEY_ADDR:
        return parse_addr(ld, label_of(key), value, field);
    case KEY_ADDR_LIST:
        return parse_addr_list(ld, key, value, target);
    case KEY_FILE:
        return parse_file(ld, key, value, field);
    case KEY_NAME:
        return parse_name(ld, key, value, field);
    case KEY_PREFIX:
        return parse_prefix(ld, key, value, target);
    case KEY_BACKEND:
        return parse_backend_ref(ld, key, value, field);
    case KEY_MAPPING:
        if (value->kind != SL_YAML_MAPPING)
            return fail_type(ld, key, value);
        return apply_kind(ld, key->sub, value, target);
    case KEY_LIST:
        return parse_list(ld, key, value, target);
    }
    return fail(ld, value->line, "%s has an unknown type", key->name);
}

static void apply_default(const struct key *key, char *target)
{
    if (key->type == KEY_UINT)
        *(uint32_t *)(target + key->offset) = key->def;
    else if (key->type == KEY_LOG_LEVEL)
        *(enum sl_log_level *)(target + key->offset) = (enum sl_log_level)key->def;
    /* everything else defaults to zero/NULL; kind checks fill in the rest */
}

static int fail_unknown_key(struct loader *ld, const struct kind *kind,
                            const struct sl_yaml_node *key)
{
    char expected[256];
    size_t at = 0;
    expected[0] = '\0';
    for (size_t i = 0; i < kind->key_count && at < sizeof(expected); i++) {
        int n = snprintf(expected + at, sizeof(expected) - at, "%s%s", i > 0 ? ", " : "",
                         kind->keys[i].name);
        at += n > 0 ? (size_t)n : 0;
    }
    char got[QUOTE_MAX_BYTES + 8];
    if (key->kind != SL_YAML_SCALAR) {
        return fail(ld, key->line, "a key in %s must be a word, got %s (expected: %s)", kind->noun,
                    describe(key, got, sizeof(got)), expected);
    }
    return fail(ld, key->line, "unknown key %s in %s (expected: %s)",
                describe(key, got, sizeof(got)), kind->noun, expected);
}

static int apply_kind(struct loader *ld, const struct kind *kind, const struct sl_yaml_node *map,
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
            return fail(ld, k->line, "duplicate key '%s' in %s (first set at line %u)", k->text,
                        kind->noun, keys[i]->line);
        }
        keys[i] = k;
    }
    for (size_t i = 0; i < kind->key_count; i++) {
        const struct key *key = &kind->keys[i];
        if (keys[i] != NULL) {
            if (apply_value(ld, key, keys[i]->next, target) < 0)
                return -1;
        } else if (key->is_required) {
            return fail(ld, map->line, "%s is missing required key '%s'", kind->noun, key->name);
        } else {
            apply_default(key, target);
        }
    }
    return 0;
}

/* ---- checks across keys and entries ---- */

static int check_listener(struct loader *ld, const struct sl_yaml_node *seq, void *items,
                          size_t index)
{
    const struct sl_listener_config *listeners = items;
    const struct sl_addr *addr = &listeners[index].addr;
    for (size_t i = 0; i < index; i++) {
        const struct sl_addr *other = &listeners[i].addr;
        /* sl_addr_parse zeroes the storage, so equal addresses are equal bytes */
        if (other->len == addr->len && memcmp(&other->ss, &addr->ss, addr->len) == 0) {
            return fail(ld, find_value(nth(seq, index), "address")->line,
                        "listener address '%s' is already used by the listener at line %u",
                        addr->text, find_value(nth(seq, i), "address")->line);
        }
    }
    return 0;
}

static int check_backend(struct loader *ld, const struct sl_yaml_node *seq, void *items,
                         size_t index)
{
    const struct sl_backend_config *backends = items;
    for (size_t i = 0; i < index; i++) {
        if (strcmp(backends[i].name, backends[index].name) == 0) {
            return fail(ld, find_value(nth(seq, index), "name")->line,
                        "duplicate backend name '%s' (first defined at line %u)",
                        backends[index].name, find_value(nth(seq, i), "name")->line);
        }
    }
    return 0;
}

/* Routes are tried in order, so a route whose prefix extends an earlier one
 * would never be chosen; that is always a mistake (usually "/" put first). */
static int check_route(struct loader *ld, const struct sl_yaml_node *seq, void *items, size_t index)
{
    const struct sl_route_config *routes = items;
    const struct sl_route_config *route = &routes[index];
    for (size_t i = 0; i < index; i++) {
        const struct sl_route_config *earlier = &routes[i];
        if (earlier->prefix_len <= route->prefix_len &&
            memcmp(earlier->prefix, route->prefix, earlier->prefix_len) == 0) {
            return fail(ld, find_value(nth(seq, index), "prefix")->line,
                        "route prefix '%s' can never match: the route at line %u with prefix "
                        "'%s' comes first (routes are tried in order; put longer prefixes first)",
                        route->prefix, find_value(nth(seq, i), "prefix")->line, earlier->prefix);
        }
    }
    return 0;
}

/* ---- the tables ---- */

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* The tables keep one row per key, as tables; clang-format would spread them out. */
/* clang-format off */

/* A number key is named after its field, so the two cannot drift apart. */
#define UINT_KEY(target, field, def_, min_, max_, doc_)                                            \
    {.name = #field, .type = KEY_UINT, .def = (def_), .min = (min_), .max = (max_),                \
     .offset = offsetof(target, field), .doc = (doc_)}

static const struct key tls_keys[] = {
    {.name = "certificate", .label = "tls certificate", .type = KEY_FILE, .is_required = true,
     .def_text = "none", .offset = offsetof(struct sl_listener_config, tls_certificate),
     .doc = "PEM certificate chain file; relative paths start at the config file's directory"},
    {.name = "key", .label = "tls key", .type = KEY_FILE, .is_required = true,
     .def_text = "none", .offset = offsetof(struct sl_listener_config, tls_key),
     .doc = "PEM private key file for the certificate"},
};

static const struct kind tls_kind = {
    .noun = "tls", .keys = tls_keys, .key_count = COUNT(tls_keys),
    .target_size = sizeof(struct sl_listener_config),
};

static const struct key listener_keys[] = {
    {.name = "address", .label = "listener address", .type = KEY_ADDR, .is_required = true,
     .def_text = "none", .offset = offsetof(struct sl_listener_config, addr),
     .doc = "where to accept connections: IP:port, [IPv6]:port or unix:/path"},
    {.name = "tls", .type = KEY_MAPPING, .sub = &tls_kind,
     .def_text = "none (cleartext h2c and HTTP/1.1)",
     .doc = "serve TLS with ALPN h2 and http/1.1"},
};

static const struct kind listener_kind = {
    .noun = "listener", .keys = listener_keys, .key_count = COUNT(listener_keys),
    .target_size = sizeof(struct sl_listener_config), .check = check_listener,
};

static const struct key backend_keys[] = {
    {.name = "name", .label = "backend name", .type = KEY_NAME, .is_required = true,
     .def_text = "none", .offset = offsetof(struct sl_backend_config, name),
     .doc = "unique name that routes refer to, [A-Za-z0-9_.-]{1,64}"},
    {.name = "servers", .type = KEY_ADDR_LIST, .is_required = true, .min = 1,
     .def_text = "none", .offset = offsetof(struct sl_backend_config, servers),
     .count_offset = offsetof(struct sl_backend_config, server_count),
     .doc = "addresses of the backend's servers: IP:port, [IPv6]:port or unix:/path"},
    UINT_KEY(struct sl_backend_config, connect_timeout_ms, 1000, 1, 600000,
             "time to establish a connection to a server"),
    UINT_KEY(struct sl_backend_config, response_timeout_ms, 10000, 1, 3600000,
             "time to the response head once the request is sent, the longest silence within a "
             "response, and the longest wait for a free connection"),
    UINT_KEY(struct sl_backend_config, max_connections, 128, 1, 65535,
             "connections open at once to each server"),
    UINT_KEY(struct sl_backend_config, keepalive_idle_timeout_ms, 60000, 0, 3600000,
             "how long an idle connection is kept open; 0 closes it as soon as it is idle"),
};

static const struct kind backend_kind = {
    .noun = "backend", .keys = backend_keys, .key_count = COUNT(backend_keys),
    .target_size = sizeof(struct sl_backend_config), .check = check_backend,
};

static const struct key route_keys[] = {
    {.name = "prefix", .label = "route prefix", .type = KEY_PREFIX, .is_required = true,
     .def_text = "none", .offset = offsetof(struct sl_route_config, prefix),
     .count_offset = offsetof(struct sl_route_config, prefix_len),
     .doc = "matches request paths that start with these bytes; must start with '/'"},
    {.name = "backend", .label = "route backend", .type = KEY_BACKEND, .is_required = true,
     .def_text = "none", .offset = offsetof(struct sl_route_config, backend),
     .doc = "name of the backend that serves matching requests"},
};

static const struct kind route_kind = {
    .noun = "route", .keys = route_keys, .key_count = COUNT(route_keys),
    .target_size = sizeof(struct sl_route_config), .check = check_route,
};

/* Order matters: backends come before routes and default_backend, which name them. */
static const struct key top_keys[] = {
    {.name = "log_level", .type = KEY_LOG_LEVEL, .def = SL_LOG_INFO, .def_text = "info",
     .offset = offsetof(struct sl_config, log_level),
     .doc = "least severe level logged: error, warn, info or debug"},
    UINT_KEY(struct sl_config, drain_timeout_ms, 10000, 0, 3600000,
             "time in-flight requests get to finish on shutdown"),
    UINT_KEY(struct sl_config, client_idle_timeout_ms, 60000, 100, 3600000,
             "time a client connection may stay open with no stream (TLS handshake included), "
             "and a stream may stall its exchange"),
    UINT_KEY(struct sl_config, max_concurrent_streams, 256, 1, 65535,
             "SETTINGS_MAX_CONCURRENT_STREAMS per HTTP/2 connection"),
    UINT_KEY(struct sl_config, stream_window_bytes, 262144, 16384, 16777216,
             "HTTP/2 receive window per stream: request-body bytes buffered per stream at most"),
    UINT_KEY(struct sl_config, response_buffer_bytes, 65536, 4096, 16777216,
             "response-body bytes buffered per stream before reading from the backend pauses"),
    UINT_KEY(struct sl_config, max_request_header_bytes, 65536, 1024, 1048576,
             "request header size (RFC 9113 §6.5.2); larger headers get 431"),
    {.name = "listeners", .type = KEY_LIST, .is_required = true, .min = 1, .def_text = "none",
     .offset = offsetof(struct sl_config, listeners),
     .count_offset = offsetof(struct sl_config, listener_count), .sub = &listener_kind,
     .doc = "where sluice accepts connections; at least one"},
    {.name = "backends", .type = KEY_LIST, .is_required = true, .min = 1, .def_text = "none",
     .offset = offsetof(struct sl_config, backends),
     .count_offset = offsetof(struct sl_config, backend_count), .sub = &backend_kind,
     .doc = "groups of servers that requests are proxied to; at least one"},
    {.name = "routes", .type = KEY_LIST, .min = 0, .def_text = "none",
     .offset = offsetof(struct sl_config, routes),
     .count_offset = offsetof(struct sl_config, route_count), .sub = &route_kind,
     .doc = "path prefixes and their backends; the first match wins"},
    {.name = "default_backend", .type = KEY_BACKEND, .def_text = "the first backend",
     .offset = offsetof(struct sl_config, default_backend),
     .doc = "backend for requests that no route matches"},
};

static const struct kind top_kind = {
    .noun = "the config", .keys = top_keys, .key_count = COUNT(top_keys),
    .target_size = sizeof(struct sl_config),
};
/* clang-format on */

_Static_assert(COUNT(top_keys) <= KEYS_MAX, "raise KEYS_MAX");
_Static_assert(COUNT(backend_keys) <= KEYS_MAX, "raise KEYS_MAX");

/* ---- the contract ---- */

static int apply_root(struct loader *ld, const struct sl_yaml_node *root)
{
    if (root == NULL || (root->kind == SL_YAML_SCALAR && root->is_null)) {
        return fail(ld, root == NULL ? 1 : root->line,
                    "the file holds no settings; it needs at least listeners and backends");
    }
    if (root->kind != SL_YAML_MAPPING) {
        char got[QUOTE_MAX_BYTES + 8];
        return fail(ld, root->line, "the config must be a mapping of keys to values, got %s",
                    describe(root, got, sizeof(got)));
    }
    struct sl_config *cfg = ld->cfg;
    if (apply_kind(ld, &top_kind, root, cfg) < 0)
        return -1;
    if (cfg->default_backend == NULL)
        cfg->default_backend = &cfg->backends[0];
    return 0;
}

int sl_config_load(const char *path, struct sl_config **out, char *err, size_t err_len)
{
    struct loader ld = {.path = path, .err = err, .err_len = err_len};
    /* the tree and the file text are only needed while the config is built */
    struct sl_arena *scratch = sl_arena_new(16384);
    if (scratch == NULL)
        return fail_oom(&ld);
    const struct sl_yaml_node *root;
    if (sl_yaml_load(path, scratch, &root, err, err_len) < 0)
        goto fail_tree;
    struct sl_arena *arena = sl_arena_new(4096);
    if (arena == NULL) {
        fail_oom(&ld);
        goto fail_arena;
    }
    struct sl_config *cfg = alloc_zero(&ld, arena, sizeof(*cfg));
    if (cfg == NULL)
        goto fail_cfg;
    cfg->arena = arena;
    cfg->path = sl_arena_strndup(arena, path, strlen(path));
    if (cfg->path == NULL) {
        fail_oom(&ld);
        goto fail_cfg;
    }
    ld.cfg = cfg;
    if (apply_root(&ld, root) < 0)
        goto fail_cfg;
    *out = cfg;
    sl_arena_free(scratch);
    return 0;

fail_cfg:
    sl_arena_free(arena);
fail_arena:
fail_tree:
    sl_arena_free(scratch);
    return -1;
}

void sl_config_free(struct sl_config *cfg)
{
    if (cfg != NULL)
        sl_arena_free(cfg->arena);
}

const struct sl_backend_config *sl_config_route(const struct sl_config *cfg, const char *path,
                                                size_t path_len)
{
    for (size_t i = 0; i < cfg->route_count; i++) {
        const struct sl_route_config *route = &cfg->routes[i];
        if (route->prefix_len <= path_len && memcmp(route->prefix, path, route->prefix_len) == 0)
            return route->backend;
    }
    return cfg->default_backend;
}
