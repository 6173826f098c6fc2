/* The config loader's key-table engine; internal to config*.c.
 *
 * Each mapping in the file is checked against a table of struct key rows (a
 * struct kind): unknown and duplicate keys, types, ranges, defaults and
 * required keys all come from the table, which is also what docs/config.md and
 * conf/sluice.yaml are written from. Keys are applied in table order, not file
 * order, so whatever a key refers to (a backend, a class) exists by then.
 * config.c holds the tables of the core, config_policy.c those of classes,
 * rules, admission and overload. */
#ifndef SL_CONFIG_KEYS_H
#define SL_CONFIG_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "config_yaml.h"

#define KEYS_MAX 32        /* keys in one table */
#define NAME_MAX_BYTES 64  /* backend, class and listener names */
#define QUOTE_MAX_BYTES 64 /* of a value quoted back in a message */

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

struct loader {
    const char *path;
    char *err;
    size_t err_len;
    struct sl_config *cfg;
};

enum key_type {
    KEY_UINT,        /* uint32_t in min..max */
    KEY_BOOL,        /* bool: true or false */
    KEY_LOG_LEVEL,   /* enum sl_log_level */
    KEY_ADDR,        /* struct sl_addr */
    KEY_ADDR_LIST,   /* struct sl_addr * and a size_t count of at least min */
    KEY_FILE,        /* const char *, readable now; relative to the config file */
    KEY_NAME,        /* const char *, [A-Za-z0-9_.-]{1,64} */
    KEY_STRING,      /* struct sl_string, up to max bytes (0: any) */
    KEY_STRING_LIST, /* struct sl_string * and a size_t count: one scalar or a sequence */
    KEY_PATH_LIST,   /* likewise, each starting with '/' */
    KEY_BACKEND,     /* const struct sl_backend_config *, by name */
    KEY_MAPPING,     /* sub's keys, written into the same target */
    KEY_LIST,        /* an array of sub's targets and a size_t count in min..max (0: any) */
    KEY_CUSTOM,      /* parsed by the key's parse function */
};

struct kind;
struct key;

/* KEY_CUSTOM: parses value into target (the struct the kind fills). Returns 0
 * or -1 with the error written through sl_config_fail. */
typedef int (*key_parse_fn)(struct loader *ld, const struct key *key,
                            const struct sl_yaml_node *value, char *target);

/* One row per key: validation, defaults and docs all read this. */
struct key {
    const char *name;
    const char *label; /* subject of messages when the name alone is vague; NULL: name */
    enum key_type type;
    bool is_required;
    uint32_t def;         /* KEY_UINT, KEY_BOOL, KEY_LOG_LEVEL */
    uint32_t min;         /* KEY_UINT; for lists, the fewest entries */
    uint32_t max;         /* KEY_UINT; KEY_STRING: bytes at most; KEY_LIST: entries (0: any) */
    const char *def_text; /* the default in words, for the docs */
    size_t offset;        /* of the value in the target struct */
    size_t count_offset;  /* KEY_*_LIST, KEY_LIST: the count */
    const struct kind *sub;
    key_parse_fn parse; /* KEY_CUSTOM */
    const char *what;   /* KEY_CUSTOM: what the value must be, for messages */
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

/* The tables keep one row per key; a number key is named after its field, so
 * the two cannot drift apart. */
#define UINT_KEY(target, field, def_, min_, max_, doc_)                                            \
    {                                                                                              \
        .name = #field, .type = KEY_UINT, .def = (def_), .min = (min_), .max = (max_),             \
        .offset = offsetof(target, field), .doc = (doc_)                                           \
    }

/* Writes "PATH:LINE: reason" into the loader's error buffer; returns -1. */
int sl_config_fail(struct loader *ld, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int sl_config_fail_oom(struct loader *ld);
/* "<label> must be <what the type takes>, got <value>". */
int sl_config_fail_type(struct loader *ld, const struct key *key, const struct sl_yaml_node *value);

/* A KEY_CUSTOM value that is one of names (matched exactly): its index goes
 * into the int-sized enum at key->offset. Returns 0, or -1 after
 * sl_config_fail_type(). */
int sl_config_parse_choice(struct loader *ld, const struct key *key,
                           const struct sl_yaml_node *value, char *target, const char *const *names,
                           size_t count);

/* size zeroed bytes from arena, or NULL with an out-of-memory error written. */
void *sl_config_alloc_zero(struct loader *ld, struct sl_arena *arena, size_t size);

/* How node looks, for "got ..." in messages (buf needs QUOTE_MAX_BYTES + 8). */
const char *sl_config_describe(const struct sl_yaml_node *node, char *buf, size_t buf_len);

/* The subject of a key's messages: its label, else its name. */
const char *sl_config_label(const struct key *key);

/* A non-empty scalar without NUL bytes as a C string, or -1 with an error. */
int sl_config_string(struct loader *ld, const struct key *key, const struct sl_yaml_node *value,
                     const char **out);

/* Child index of a sequence; the value of key in a mapping, or NULL. */
const struct sl_yaml_node *sl_config_nth(const struct sl_yaml_node *parent, size_t index);
const struct sl_yaml_node *sl_config_find(const struct sl_yaml_node *map, const char *key);

/* Finds the entry named by value among count items of stride bytes, each of
 * which starts with its name (a const char *, NULL for an unnamed entry).
 * Returns 0 with *index, or -1 with "<label> 'x' is not defined (defined: ...)". */
int sl_config_lookup(struct loader *ld, const struct key *key, const struct sl_yaml_node *value,
                     const void *items, size_t count, size_t stride, size_t *index);

/* Checks map against kind's table and fills target. Returns 0 or -1. */
int sl_config_apply_kind(struct loader *ld, const struct kind *kind, const struct sl_yaml_node *map,
                         void *target);

#endif
