/* The config file as a tree of YAML nodes; internal to the config loader.
 *
 * This is the only part of sluice that knows libyaml. It reads one file and
 * turns its single document into plain nodes, refusing what the config never
 * needs: anchors, aliases, several documents and deep nesting. It knows no
 * keys; config.c checks the tree against its key tables. */
#ifndef SL_CONFIG_YAML_H
#define SL_CONFIG_YAML_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

struct sl_arena;

enum sl_yaml_kind { SL_YAML_SCALAR, SL_YAML_SEQUENCE, SL_YAML_MAPPING };

/* One node of the tree, read-only once built. Children are a list from first
 * through next; a mapping's children alternate key and value, so it has
 * 2 * count of them. Lives as long as the arena it was built in. */
struct sl_yaml_node {
    enum sl_yaml_kind kind;
    unsigned line;    /* 1-based */
    bool is_null;     /* a plain scalar that is empty, "~" or "null" */
    const char *text; /* scalars: the value, NUL-terminated (it may also hold NULs) */
    size_t len;       /* of text, without the terminator */
    size_t count;     /* sequence items or mapping pairs */
    struct sl_yaml_node *first;
    struct sl_yaml_node *last;
    struct sl_yaml_node *next;
};

/* Writes "PATH:LINE: " and the formatted reason into err (nothing when err_len
 * is 0), the one format of every config error. Returns -1, for tail calls. */
int sl_config_verror(char *err, size_t err_len, const char *path, unsigned line, const char *fmt,
                     va_list ap) __attribute__((format(printf, 5, 0)));

/* Writes "PATH: out of memory while loading the config". Returns -1. */
int sl_config_oom(char *err, size_t err_len, const char *path);

/* The file as read, NUL-terminated (the NUL not counted). */
struct sl_yaml_text {
    const char *bytes;
    size_t len;
};

/* Reads the file at path and builds its one YAML document into a tree whose
 * nodes and strings are allocated from arena (the caller's; free the arena to
 * free the tree), and copies the file's text into the arena too (*text).
 * libyaml's state is freed before return.
 *
 * On success returns 0 and sets *root, to NULL when the file holds no
 * document. On failure returns -1, leaves *root untouched and writes
 * "FILE:LINE: reason" into err ("FILE: reason" when the file cannot be read
 * or memory runs out); the arena may hold part of a tree. err_len may be 0. */
int sl_yaml_load(const char *path, struct sl_arena *arena, const struct sl_yaml_node **root,
                 struct sl_yaml_text *text, char *err, size_t err_len);

#endif
