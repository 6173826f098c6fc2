/* Config keys of priority classes, rules, backend admission and overload.
 *
 * Rules are parsed straight into policy/'s struct sl_rule: strings and CIDR
 * lists into arrays, regular expressions compiled, class and backend names
 * turned into indexes. Whatever a rule leaves out (its class, its backend) is
 * filled in by sl_config_resolve_policy once the defaults are known, which
 * also appends the catch-all rule, so matching always finds one. */
#include "config_policy.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "arena.h"
#include "pattern.h"

#define SHED_BODY_MAX_BYTES 4096
#define IMPLICIT_MAX_QUEUE_MS 1000
#define DEFAULT_MAX_BACKLOG_MS 100

/* Patterns own heap memory, so the config keeps a list of them to free. */
struct sl_config_pattern {
    struct sl_pattern *pattern;
    struct sl_config_pattern *next;
};

void sl_config_free_patterns(struct sl_config *cfg)
{
    for (struct sl_config_pattern *p = cfg->patterns; p != NULL; p = p->next)
        sl_pattern_free(p->pattern);
    cfg->patterns = NULL;
}

static int compile_pattern(struct loader *ld, const struct key *key,
                           const struct sl_yaml_node *value, const struct sl_pattern **out)
{
    const char *text;
    if (sl_config_string(ld, key, value, &text) < 0)
        return -1;
    struct sl_config_pattern *node = sl_config_alloc_zero(ld, ld->cfg->arena, sizeof(*node));
    if (node == NULL)
        return -1;
    char reason[128];
    int rv = sl_pattern_compile(text, &node->pattern, reason, sizeof(reason));
    if (rv == -ENOMEM)
        return sl_config_fail_oom(ld);
    if (rv < 0) {
        char got[QUOTE_MAX_BYTES + 8];
        return sl_config_fail(ld, value->line, "%s %s is not a valid regular expression: %s",
                              sl_config_label(key), sl_config_describe(value, got, sizeof(got)),
                              reason);
    }
    node->next = ld->cfg->patterns;
    ld->cfg->patterns = node;
    *out = node->pattern;
    return 0;
}

/* ---- field names and values ---- */

static bool is_token_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* A field name (RFC 9110 §5.1), copied lowercase as HTTP/2 sends names. */
static int parse_field_name(struct loader *ld, const struct key *key,
                            const struct sl_yaml_node *value, struct sl_string *out)
{
    char got[QUOTE_MAX_BYTES + 8];
    bool is_valid = value->kind == SL_YAML_SCALAR && !value->is_null && value->len > 0 &&
                    value->len <= NAME_MAX_BYTES;
    for (size_t i = 0; is_valid && i < value->len; i++)
        is_valid = is_token_char(value->text[i]);
    if (!is_valid) {
        return sl_config_fail(ld, value->line,
                              "%s must be a header name (1 to %d token "
                              "characters), got %s",
                              sl_config_label(key), NAME_MAX_BYTES,
                              sl_config_describe(value, got, sizeof(got)));
    }
    char *name = sl_arena_strndup(ld->cfg->arena, value->text, value->len);
    if (name == NULL)
        return sl_config_fail_oom(ld);
    for (size_t i = 0; i < value->len; i++) {
        if (name[i] >= 'A' && name[i] <= 'Z')
            name[i] = (char)(name[i] - 'A' + 'a');
    }
    *out = (struct sl_string){.text = name, .len = value->len};
    return 0;
}

static bool is_named_in(const struct sl_string *name, const char *const *names, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        if (strcmp(name->text, names[i]) == 0)
            return true;
    }
    return false;
}

/* Request fields that sluice writes or that frame the message: a budget header
 * by one of these names would corrupt or smuggle the forwarded request. */
static bool is_request_framing_field(const struct sl_string *name)
{
    static const char *const names[] = {
        "connection",
        "content-length",
        "cookie",
        "expect",
        "host",
        "keep-alive",
        "proxy-connection",
        "te",
        "transfer-encoding",
        "upgrade",
        "x-forwarded-for",
        "x-forwarded-proto",
    };
    return is_named_in(name, names, COUNT(names));
}

int sl_config_parse_header_name(struct loader *ld, const struct key *key,
                                const struct sl_yaml_node *value, char *target)
{
    struct sl_string *out = (struct sl_string *)(target + key->offset);
    if (value->kind == SL_YAML_SCALAR && value->len == 0) {
        *out = (struct sl_string){.text = "", .len = 0};
        return 0;
    }
    if (parse_field_name(ld, key, value, out) < 0)
        return -1;
    if (is_request_framing_field(out)) {
        return sl_config_fail(ld, value->line,
                              "%s cannot be '%s': sluice writes that field "
                              "itself or it frames the request",
                              sl_config_label(key), out->text);
    }
    return 0;
}

/* Fields that sluice writes itself, or that mean something per hop. */
static bool is_reserved_field(const struct sl_string *name)
{
    static const char *const reserved[] = {
        "connection",        "content-length", "keep-alive", "proxy-connection",
        "transfer-encoding", "upgrade",        "te"};
    return is_named_in(name, reserved, COUNT(reserved));
}

static int parse_field_value(struct loader *ld, const struct sl_string *name,
                             const struct sl_yaml_node *value, struct sl_string *out)
{
    if (value->kind != SL_YAML_SCALAR || value->len == 0 ||
        strcspn(value->text, "\r\n") != value->len || memchr(value->text, '\0', value->len)) {
        char got[QUOTE_MAX_BYTES + 8];
        return sl_config_fail(ld, value->line,
                              "shed header '%s' must have a one-line value, "
                              "got %s",
                              name->text, sl_config_describe(value, got, sizeof(got)));
    }
    char *copy = sl_arena_strndup(ld->cfg->arena, value->text, value->len);
    if (copy == NULL)
        return sl_config_fail_oom(ld);
    *out = (struct sl_string){.text = copy, .len = value->len};
    return 0;
}

/* shed.headers: a mapping of field names to values. */
static int parse_shed_headers(struct loader *ld, const struct key *key,
                              const struct sl_yaml_node *value, char *target)
{
    if (value->kind != SL_YAML_MAPPING)
        return sl_config_fail_type(ld, key, value);
    struct sl_shed_answer *shed = (struct sl_shed_answer *)(target + key->offset);
    shed->headers =
        sl_config_alloc_zero(ld, ld->cfg->arena, (value->count + 1) * sizeof(*shed->headers));
    if (shed->headers == NULL)
        return -1;
    for (const struct sl_yaml_node *k = value->first; k != NULL; k = k->next->next) {
        struct sl_header_field *field = &shed->headers[shed->header_count];
        if (parse_field_name(ld, key, k, &field->name) < 0)
            return -1;
        if (is_reserved_field(&field->name)) {
            return sl_config_fail(ld, k->line, "shed header '%s' is set by sluice itself",
                                  field->name.text);
        }
        if (parse_field_value(ld, &field->name, k->next, &field->value) < 0)
            return -1;
        shed->header_count++;
    }
    return 0;
}

/* ---- classes ---- */

/* A file without classes has one, "default", which names can refer to. */
static int add_implicit_class(struct loader *ld)
{
    struct sl_config *cfg = ld->cfg;
    struct sl_class_config *cls = sl_config_alloc_zero(ld, cfg->arena, sizeof(*cls));
    if (cls == NULL)
        return -1;
    cls->name = "default";
    cls->max_queue_ms = IMPLICIT_MAX_QUEUE_MS;
    cls->max_backlog_ms = DEFAULT_MAX_BACKLOG_MS;
    cls->shed.status = 503;
    cls->shed.body = (struct sl_string){.text = "", .len = 0};
    cfg->classes = cls;
    cfg->class_count = 1;
    return 0;
}

static int find_class(struct loader *ld, const struct key *key, const struct sl_yaml_node *value,
                      size_t *index)
{
    const struct sl_config *cfg = ld->cfg;
    if (cfg->class_count == 0 && add_implicit_class(ld) < 0)
        return -1;
    return sl_config_lookup(ld, key, value, cfg->classes, cfg->class_count, sizeof(*cfg->classes),
                            index);
}

int sl_config_parse_class_ref(struct loader *ld, const struct key *key,
                              const struct sl_yaml_node *value, char *target)
{
    size_t i;
    if (find_class(ld, key, value, &i) < 0)
        return -1;
    const struct sl_class_config *cls = &ld->cfg->classes[i];
    memcpy(target + key->offset, &cls, sizeof(cls));
    return 0;
}

/* In enum sl_limiter_kind order. */
static const char *const limiter_kinds[] = {"static", "adaptive"};
_Static_assert(SL_LIMITER_STATIC == 0 && SL_LIMITER_ADAPTIVE == 1, "limiter_kinds order");
_Static_assert(sizeof(enum sl_limiter_kind) == sizeof(int), "a choice is stored as an int");

int sl_config_parse_limiter(struct loader *ld, const struct key *key,
                            const struct sl_yaml_node *value, char *target)
{
    return sl_config_parse_choice(ld, key, value, target, limiter_kinds,
                                  sizeof(limiter_kinds) / sizeof(limiter_kinds[0]));
}

static int check_class(struct loader *ld, const struct sl_yaml_node *seq, void *items, size_t index)
{
    struct sl_class_config *classes = items;
    classes[index].index = index;
    for (size_t i = 0; i < index; i++) {
        if (strcmp(classes[i].name, classes[index].name) == 0) {
            return sl_config_fail(ld, sl_config_find(sl_config_nth(seq, index), "name")->line,
                                  "duplicate class name '%s' (first defined at line %u)",
                                  classes[index].name,
                                  sl_config_find(sl_config_nth(seq, i), "name")->line);
        }
    }
    return 0;
}

/* ---- rule matchers ---- */

static int parse_path_regex(struct loader *ld, const struct key *key,
                            const struct sl_yaml_node *value, char *target)
{
    return compile_pattern(ld, key, value, (const struct sl_pattern **)(target + key->offset));
}

static int parse_cidr_list(struct loader *ld, const struct key *key,
                           const struct sl_yaml_node *value, char *target)
{
    bool is_one = value->kind == SL_YAML_SCALAR;
    if (!is_one && (value->kind != SL_YAML_SEQUENCE || value->count == 0))
        return sl_config_fail_type(ld, key, value);
    struct sl_rule *rule = (struct sl_rule *)target;
    rule->client_count = is_one ? 1 : value->count;
    struct sl_cidr *cidrs =
        sl_config_alloc_zero(ld, ld->cfg->arena, rule->client_count * sizeof(*cidrs));
    if (cidrs == NULL)
        return -1;
    const struct sl_yaml_node *item = is_one ? value : value->first;
    for (size_t i = 0; i < rule->client_count; i++, item = item->next) {
        const char *text;
        if (sl_config_string(ld, key, item, &text) < 0)
            return -1;
        if (sl_cidr_parse(text, &cidrs[i]) < 0) {
            char got[QUOTE_MAX_BYTES + 8];
            return sl_config_fail(ld, item->line,
                                  "%s %s is not an address or a network in "
                                  "CIDR form (10.0.0.0/8, 2001:db8::/32) with no bits set past "
                                  "its prefix",
                                  sl_config_label(key), sl_config_describe(item, got, sizeof(got)));
        }
    }
    rule->clients = cidrs;
    return 0;
}

static int parse_listener_refs(struct loader *ld, const struct key *key,
                               const struct sl_yaml_node *value, char *target)
{
    bool is_one = value->kind == SL_YAML_SCALAR;
    if (!is_one && (value->kind != SL_YAML_SEQUENCE || value->count == 0))
        return sl_config_fail_type(ld, key, value);
    const struct sl_config *cfg = ld->cfg;
    struct sl_rule *rule = (struct sl_rule *)target;
    rule->listener_count = is_one ? 1 : value->count;
    unsigned *indexes =
        sl_config_alloc_zero(ld, cfg->arena, rule->listener_count * sizeof(*indexes));
    if (indexes == NULL)
        return -1;
    const struct sl_yaml_node *item = is_one ? value : value->first;
    for (size_t i = 0; i < rule->listener_count; i++, item = item->next) {
        size_t found;
        if (sl_config_lookup(ld, key, item, cfg->listeners, cfg->listener_count,
                             sizeof(*cfg->listeners), &found) < 0)
            return -1;
        indexes[i] = (unsigned)found;
    }
    rule->listeners = indexes;
    return 0;
}

static int parse_rule_class(struct loader *ld, const struct key *key,
                            const struct sl_yaml_node *value, char *target)
{
    size_t i;
    if (find_class(ld, key, value, &i) < 0)
        return -1;
    ((struct sl_rule *)target)->class_index = (unsigned)i;
    return 0;
}

static int parse_rule_backend(struct loader *ld, const struct key *key,
                              const struct sl_yaml_node *value, char *target)
{
    const struct sl_config *cfg = ld->cfg;
    return sl_config_lookup(ld, key, value, cfg->backends, cfg->backend_count,
                            sizeof(*cfg->backends), &((struct sl_rule *)target)->backend_index);
}

static int parse_header_name(struct loader *ld, const struct key *key,
                             const struct sl_yaml_node *value, char *target)
{
    struct sl_header_matcher *m = (struct sl_header_matcher *)target;
    struct sl_string name;
    if (parse_field_name(ld, key, value, &name) < 0)
        return -1;
    m->name = name.text;
    m->name_len = name.len;
    return 0;
}

static int parse_header_equals(struct loader *ld, const struct key *key,
                               const struct sl_yaml_node *value, char *target)
{
    struct sl_header_matcher *m = (struct sl_header_matcher *)target;
    const char *text;
    if (sl_config_string(ld, key, value, &text) < 0)
        return -1;
    m->value = sl_arena_strndup(ld->cfg->arena, text, value->len);
    if (m->value == NULL)
        return sl_config_fail_oom(ld);
    m->value_len = value->len;
    m->test = SL_HEADER_EQUALS;
    return 0;
}

static int parse_header_matches(struct loader *ld, const struct key *key,
                                const struct sl_yaml_node *value, char *target)
{
    struct sl_header_matcher *m = (struct sl_header_matcher *)target;
    m->test = SL_HEADER_MATCHES;
    return compile_pattern(ld, key, value, &m->pattern);
}

static int parse_header_absent(struct loader *ld, const struct key *key,
                               const struct sl_yaml_node *value, char *target)
{
    if (value->kind != SL_YAML_SCALAR || strcmp(value->text, "true") != 0)
        return sl_config_fail_type(ld, key, value);
    ((struct sl_header_matcher *)target)->test = SL_HEADER_ABSENT;
    return 0;
}

static int check_header_matcher(struct loader *ld, const struct sl_yaml_node *seq, void *items,
                                size_t index)
{
    const struct sl_yaml_node *map = sl_config_nth(seq, index);
    int tests = (sl_config_find(map, "equals") != NULL) + (sl_config_find(map, "matches") != NULL) +
                (sl_config_find(map, "absent") != NULL);
    if (tests > 1) {
        return sl_config_fail(ld, map->line,
                              "a header matcher takes one of equals, matches "
                              "and absent (neither: the header must be present)");
    }
    return 0;
}

/* The earlier rule matches every request the later one could: it has no
 * matcher but path prefixes, and each of the later rule's paths and prefixes
 * starts with one of them. */
static bool hides(const struct sl_rule *earlier, const struct sl_rule *later)
{
    if (earlier->method_count || earlier->path_count || earlier->path_pattern ||
        earlier->authority_count || earlier->header_count || earlier->client_count ||
        earlier->listener_count)
        return false;
    if (earlier->path_prefix_count == 0)
        return true;
    if (later->path_count + later->path_prefix_count == 0)
        return false;
    for (size_t i = 0; i < later->path_count + later->path_prefix_count; i++) {
        const struct sl_string *p =
            i < later->path_count ? &later->paths[i] : &later->path_prefixes[i - later->path_count];
        bool is_covered = false;
        for (size_t j = 0; j < earlier->path_prefix_count && !is_covered; j++) {
            const struct sl_string *prefix = &earlier->path_prefixes[j];
            is_covered = prefix->len <= p->len && memcmp(prefix->text, p->text, prefix->len) == 0;
        }
        if (!is_covered)
            return false;
    }
    return true;
}

static int check_rule(struct loader *ld, const struct sl_yaml_node *seq, void *items, size_t index)
{
    const struct sl_rule *rules = items;
    for (size_t i = 0; i < index; i++) {
        if (hides(&rules[i], &rules[index])) {
            return sl_config_fail(ld, sl_config_nth(seq, index)->line,
                                  "this rule can never match: the rule at line %u matches every "
                                  "request it would (rules are tried in order; put the more "
                                  "specific rule first)",
                                  sl_config_nth(seq, i)->line);
        }
    }
    return 0;
}

/* ---- the tables ---- */

/* clang-format off */

static const struct key shed_keys[] = {
    {.name = "status", .label = "shed status", .type = KEY_UINT, .def = 503, .min = 200,
     .max = 599, .offset = offsetof(struct sl_class_config, shed.status),
     .doc = "HTTP status of the answer (204 for a no-bid)"},
    {.name = "headers", .type = KEY_CUSTOM, .parse = parse_shed_headers,
     .what = "a mapping of header names to values", .def_text = "none",
     .offset = offsetof(struct sl_class_config, shed),
     .doc = "header fields of the answer, e.g. Retry-After: 1"},
    {.name = "body", .label = "shed body", .type = KEY_STRING, .max = SHED_BODY_MAX_BYTES,
     .def_text = "empty", .offset = offsetof(struct sl_class_config, shed.body),
     .doc = "body of the answer, up to 4096 bytes"},
    {.name = "refuse_stream", .type = KEY_BOOL, .def = false, .def_text = "false",
     .offset = offsetof(struct sl_class_config, shed.is_refuse_stream),
     .doc = "HTTP/2: reset the stream with REFUSED_STREAM (safe to retry) instead of answering; "
            "HTTP/1.1: 503 with Retry-After, and close"},
};

static const struct kind shed_kind = {
    .noun = "shed", .keys = shed_keys, .key_count = COUNT(shed_keys),
    .target_size = sizeof(struct sl_class_config),
};

static const struct key class_keys[] = {
    {.name = "name", .label = "class name", .type = KEY_NAME, .is_required = true,
     .def_text = "none", .offset = offsetof(struct sl_class_config, name),
     .doc = "unique name that rules refer to, [A-Za-z0-9_.-]{1,64}"},
    UINT_KEY(struct sl_class_config, deadline_ms, 0, 0, 3600000,
             "time from arrival to response; a request that cannot make it is shed; 0: none"),
    UINT_KEY(struct sl_class_config, max_queue_ms, IMPLICIT_MAX_QUEUE_MS, 0, 3600000,
             "longest wait for a backend slot before the request is shed"),
    UINT_KEY(struct sl_class_config, max_backlog_ms, DEFAULT_MAX_BACKLOG_MS, 1, 3600000,
             "sheddable classes: a request whose predicted wait for a backend slot (the queue "
             "ahead of it at the pace its class leaves the queue) is longer is shed at once"),
    UINT_KEY(struct sl_class_config, reserve_percent, 0, 0, 99,
             "share of each backend's limit that less important classes may not use"),
    UINT_KEY(struct sl_class_config, max_body_bytes, 0, 0, 4294967295u,
             "request body bytes at most; a larger body is answered 413; 0: no limit"),
    {.name = "sheddable", .type = KEY_BOOL, .def = true, .def_text = "true",
     .offset = offsetof(struct sl_class_config, is_sheddable),
     .doc = "may be shed at the door when sluice is overloaded, and evicted from full queues"},
    {.name = "shed", .type = KEY_MAPPING, .sub = &shed_kind, .def_text = "503, no body",
     .doc = "how a shed request of this class is answered"},
};

const struct kind sl_config_class_kind = {
    .noun = "class", .keys = class_keys, .key_count = COUNT(class_keys),
    .target_size = sizeof(struct sl_class_config), .check = check_class,
};

static const struct key header_matcher_keys[] = {
    {.name = "name", .label = "header matcher name", .type = KEY_CUSTOM, .is_required = true,
     .parse = parse_header_name, .what = "a header name", .def_text = "none",
     .doc = "the header's name (any case)"},
    {.name = "equals", .type = KEY_CUSTOM, .parse = parse_header_equals, .what = "a string",
     .def_text = "none", .doc = "its value is this, byte for byte"},
    {.name = "matches", .type = KEY_CUSTOM, .parse = parse_header_matches,
     .what = "a regular expression", .def_text = "none", .doc = "its value matches this"},
    {.name = "absent", .type = KEY_CUSTOM, .parse = parse_header_absent, .what = "true",
     .def_text = "false", .doc = "the header is not there"},
};

static const struct kind header_matcher_kind = {
    .noun = "header matcher", .keys = header_matcher_keys,
    .key_count = COUNT(header_matcher_keys), .target_size = sizeof(struct sl_header_matcher),
    .check = check_header_matcher,
};

static const struct key rule_keys[] = {
    {.name = "method", .type = KEY_STRING_LIST, .def_text = "any",
     .offset = offsetof(struct sl_rule, methods),
     .count_offset = offsetof(struct sl_rule, method_count),
     .doc = "request method, or a list of them"},
    {.name = "path", .type = KEY_PATH_LIST, .def_text = "any",
     .offset = offsetof(struct sl_rule, paths), .count_offset = offsetof(struct sl_rule, path_count),
     .doc = "exact path (without the query), or a list of them"},
    {.name = "path_prefix", .type = KEY_PATH_LIST, .def_text = "any",
     .offset = offsetof(struct sl_rule, path_prefixes),
     .count_offset = offsetof(struct sl_rule, path_prefix_count),
     .doc = "path prefix, or a list of them"},
    {.name = "path_regex", .type = KEY_CUSTOM, .parse = parse_path_regex,
     .what = "a regular expression", .def_text = "any",
     .offset = offsetof(struct sl_rule, path_pattern),
     .doc = "regular expression the path matches somewhere (anchor it with ^ and $)"},
    {.name = "authority", .type = KEY_STRING_LIST, .def_text = "any",
     .offset = offsetof(struct sl_rule, authorities),
     .count_offset = offsetof(struct sl_rule, authority_count),
     .doc = ":authority or Host, port included, any case; or a list of them"},
    {.name = "headers", .type = KEY_LIST, .min = 1, .def_text = "none",
     .offset = offsetof(struct sl_rule, headers),
     .count_offset = offsetof(struct sl_rule, header_count), .sub = &header_matcher_kind,
     .doc = "header matchers, all of which must hold"},
    {.name = "client", .type = KEY_CUSTOM, .parse = parse_cidr_list,
     .what = "a CIDR network or a sequence of them", .def_text = "any",
     .doc = "client address in this network (10.0.0.0/8, ::1/128), or in one of a list"},
    {.name = "listener", .type = KEY_CUSTOM, .parse = parse_listener_refs,
     .what = "a listener name or a sequence of them", .def_text = "any",
     .doc = "name of the listener the request came in on, or a list of them"},
    {.name = "class", .label = "rule class", .type = KEY_CUSTOM, .parse = parse_rule_class,
     .what = "a class name", .def_text = "default_class", .doc = "class of matching requests"},
    {.name = "backend", .label = "rule backend", .type = KEY_CUSTOM, .parse = parse_rule_backend,
     .what = "a backend name", .def_text = "default_backend",
     .doc = "backend that serves matching requests"},
};

const struct kind sl_config_rule_kind = {
    .noun = "rule", .keys = rule_keys, .key_count = COUNT(rule_keys),
    .target_size = sizeof(struct sl_rule), .check = check_rule,
};

#define OVERLOAD_KEY(field, def_, min_, max_, doc_)                                                \
    {.name = #field, .type = KEY_UINT, .def = (def_), .min = (min_), .max = (max_),                \
     .offset = offsetof(struct sl_config, overload.field), .doc = (doc_)}

static const struct key overload_keys[] = {
    OVERLOAD_KEY(max_loop_lag_ms, 100, 0, 60000,
                 "event-loop lag at which sluice counts as overloaded; 0: not watched"),
    OVERLOAD_KEY(max_connections, 0, 0, 10000000,
                 "open client connections at which sluice counts as overloaded; 0: not watched"),
    OVERLOAD_KEY(max_streams, 0, 0, 100000000,
                 "open streams at which sluice counts as overloaded; 0: not watched"),
    OVERLOAD_KEY(recover_percent, 80, 1, 99,
                 "the level falls once every signal stays below this share of its threshold"),
    OVERLOAD_KEY(step_ms, 500, 10, 60000,
                 "the level rises at most one step per step_ms, and falls after step_ms of calm"),
};

const struct kind sl_config_overload_kind = {
    .noun = "overload", .keys = overload_keys, .key_count = COUNT(overload_keys),
    .target_size = sizeof(struct sl_config),
};
/* clang-format on */

_Static_assert(COUNT(rule_keys) <= KEYS_MAX, "raise KEYS_MAX");

/* ---- resolving what the keys left open ---- */

static int resolve_classes(struct loader *ld, const struct sl_yaml_node *root)
{
    struct sl_config *cfg = ld->cfg;
    if (cfg->class_count == 0 && add_implicit_class(ld) < 0)
        return -1;
    if (cfg->default_class == NULL) {
        if (cfg->class_count > 1) {
            return sl_config_fail(ld, sl_config_find(root, "classes")->line,
                                  "default_class is required when there are several classes");
        }
        cfg->default_class = &cfg->classes[0];
    }
    cfg->class_policies =
        sl_config_alloc_zero(ld, cfg->arena, cfg->class_count * sizeof(*cfg->class_policies));
    if (cfg->class_policies == NULL)
        return -1;
    bool is_sheddable[SL_CLASS_MAX];
    unsigned reserved = 0;
    for (size_t i = 0; i < cfg->class_count; i++) {
        const struct sl_class_config *cls = &cfg->classes[i];
        cfg->class_policies[i].max_queue_ns = (uint64_t)cls->max_queue_ms * 1000000;
        cfg->class_policies[i].max_backlog_ns = (uint64_t)cls->max_backlog_ms * 1000000;
        cfg->class_policies[i].reserve_percent = cls->reserve_percent;
        is_sheddable[i] = cls->is_sheddable;
        reserved += cls->reserve_percent;
    }
    if (reserved >= 100) {
        return sl_config_fail(ld, sl_config_find(root, "classes")->line,
                              "the classes reserve %u%% of each backend's limit in all; the "
                              "sum of reserve_percent must stay below 100",
                              reserved);
    }
    cfg->shed_levels = sl_class_rank(cfg->class_policies, is_sheddable, cfg->class_count);
    return 0;
}

/* Fills in what each rule left to the defaults and appends the catch-all. */
static int resolve_rules(struct loader *ld, const struct sl_yaml_node *root)
{
    struct sl_config *cfg = ld->cfg;
    const struct sl_yaml_node *seq = sl_config_find(root, "rules");
    struct sl_rule *rules =
        sl_config_alloc_zero(ld, cfg->arena, (cfg->rule_count + 1) * sizeof(*rules));
    if (rules == NULL)
        return -1;
    for (size_t i = 0; i < cfg->rule_count; i++) {
        const struct sl_yaml_node *map = sl_config_nth(seq, i);
        rules[i] = cfg->rules[i];
        if (sl_config_find(map, "class") == NULL)
            rules[i].class_index = (unsigned)cfg->default_class->index;
        if (sl_config_find(map, "backend") == NULL)
            rules[i].backend_index = cfg->default_backend->index;
    }
    rules[cfg->rule_count].class_index = (unsigned)cfg->default_class->index;
    rules[cfg->rule_count].backend_index = cfg->default_backend->index;
    cfg->rules = rules;
    cfg->rule_count++;
    return 0;
}

static int resolve_admission(struct loader *ld, const struct sl_yaml_node *root)
{
    struct sl_config *cfg = ld->cfg;
    for (size_t i = 0; i < cfg->backend_count; i++) {
        struct sl_backend_config *b = &cfg->backends[i];
        if (b->max_inflight == 0) {
            /* what the connections can carry: one exchange each for HTTP/1.1, and
             * the 100 streams RFC 9113 §6.5.2 recommends a server allow for h2c */
            uint64_t per_connection = b->protocol == SL_BACKEND_H2C ? 100 : 1;
            uint64_t all = per_connection * b->max_connections * b->server_count;
            b->max_inflight = all < 1000000 ? (uint32_t)all : 1000000;
        }
        if (b->limiter == SL_LIMITER_ADAPTIVE && b->min_inflight > b->max_inflight) {
            const struct sl_yaml_node *map = sl_config_nth(sl_config_find(root, "backends"), i);
            return sl_config_fail(ld, map->line,
                                  "backend '%s' has min_inflight %u above its "
                                  "max_inflight %u (when unset: max_connections times the "
                                  "number of servers)",
                                  b->name, b->min_inflight, b->max_inflight);
        }
    }
    return 0;
}

int sl_config_resolve_policy(struct loader *ld, const struct sl_yaml_node *root)
{
    if (sl_config_find(root, "forward_budget_header") == NULL) {
        static const char name[] = "x-sluice-budget-ms";
        ld->cfg->forward_budget_header = (struct sl_string){.text = name, .len = sizeof(name) - 1};
    }
    if (resolve_classes(ld, root) < 0 || resolve_rules(ld, root) < 0)
        return -1;
    return resolve_admission(ld, root);
}
