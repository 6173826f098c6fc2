/* Config keys of what sluice writes about its requests: the events mapping
 * (the event sink) and the access_log mapping. */
#include "config_events.h"

#include <stddef.h>
#include <string.h>

#include "arena.h"
#include "config.h"
#include "config_yaml.h"

#define UDP_PACKET_BYTES 1432 /* fits a 1500-byte Ethernet MTU with IPv6 and UDP headers */
#define UNIX_PACKET_BYTES 8192
#define MIN_PACKET_BYTES 512
#define TAG_MAX_BYTES 200

/* "udp:IP:port" or "unix:/path": a datagram socket either way. */
static int parse_events_address(struct loader *ld, const struct key *key,
                                const struct sl_yaml_node *value, char *target)
{
    const char *text;
    if (sl_config_string(ld, key, value, &text) < 0)
        return -1;
    struct sl_addr *addr = (struct sl_addr *)(target + key->offset);
    bool is_udp = strncmp(text, "udp:", 4) == 0;
    if (!is_udp && strncmp(text, "unix:", 5) != 0)
        return sl_config_fail_type(ld, key, value);
    char reason[256];
    if (sl_addr_parse(is_udp ? text + 4 : text, addr, reason, sizeof(reason)) < 0)
        return sl_config_fail(ld, value->line, "events address '%s' is not valid: %s", text,
                              reason);
    return 0;
}

/* Bytes a statsd line gives a meaning to (RFC-less, but every daemon agrees). */
static bool is_safe_in_line(const char *s, size_t len, const char *also_refused)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c >= 0x7f || c == ':' || c == '|' || c == '@' || c == ',' || c == '#' ||
            strchr(also_refused, c) != NULL)
            return false;
    }
    return true;
}

static int copy_tag_part(struct loader *ld, const struct sl_yaml_node *node, const char *what,
                         struct sl_string *out)
{
    if (node->kind != SL_YAML_SCALAR || node->len == 0 || node->len > TAG_MAX_BYTES ||
        memchr(node->text, '\0', node->len) || !is_safe_in_line(node->text, node->len, "")) {
        char got[QUOTE_MAX_BYTES + 8];
        return sl_config_fail(ld, node->line,
                              "events tag %s must be 1 to %d printable characters without "
                              "spaces or any of : | @ , #, got %s",
                              what, TAG_MAX_BYTES, sl_config_describe(node, got, sizeof(got)));
    }
    char *copy = sl_arena_strndup(ld->cfg->arena, node->text, node->len);
    if (copy == NULL)
        return sl_config_fail_oom(ld);
    *out = (struct sl_string){.text = copy, .len = node->len};
    return 0;
}

/* tags: a mapping of names to values, sent as name:value. */
static int parse_tags(struct loader *ld, const struct key *key, const struct sl_yaml_node *value,
                      char *target)
{
    if (value->kind != SL_YAML_MAPPING)
        return sl_config_fail_type(ld, key, value);
    struct sl_events_config *events = (struct sl_events_config *)(target + key->offset);
    events->tags =
        sl_config_alloc_zero(ld, ld->cfg->arena, (value->count + 1) * sizeof(*events->tags));
    if (events->tags == NULL)
        return -1;
    for (const struct sl_yaml_node *k = value->first; k != NULL; k = k->next->next) {
        struct sl_header_field *tag = &events->tags[events->tag_count];
        if (copy_tag_part(ld, k, "name", &tag->name) < 0 ||
            copy_tag_part(ld, k->next, "value", &tag->value) < 0)
            return -1;
        events->tag_count++;
    }
    return 0;
}

#define EVENTS_KEY(field) offsetof(struct sl_config, events.field)

/* clang-format off */
static const struct key events_keys[] = {
    {.name = "address", .label = "events address", .type = KEY_CUSTOM,
     .parse = parse_events_address, .what = "udp:IP:port or unix:/path", .is_required = true,
     .def_text = "none", .offset = EVENTS_KEY(address),
     .doc = "the aggregator's datagram socket: udp:127.0.0.1:8125, udp:[::1]:8125 or "
            "unix:/path"},
    {.name = "prefix", .type = KEY_STRING, .max = 64, .def_text = "sluice",
     .offset = EVENTS_KEY(prefix),
     .doc = "first part of every name, [A-Za-z0-9_.-]"},
    {.name = "flush_interval_ms", .type = KEY_UINT, .def = 1000, .min = 10, .max = 60000,
     .offset = EVENTS_KEY(flush_interval_ms),
     .doc = "each worker combines its figures over this long, then sends them"},
    {.name = "max_packet_bytes", .type = KEY_UINT, .def = 0, .min = 0, .max = 65000,
     .def_text = "1432 for udp, 8192 for unix", .offset = EVENTS_KEY(max_packet_bytes),
     .doc = "largest datagram; lines are never split across two (at least 512)"},
    {.name = "dogstatsd", .type = KEY_BOOL, .def = false, .def_text = "false",
     .offset = EVENTS_KEY(is_dogstatsd),
     .doc = "DogStatsD lines: tags (|#class:bid,...) and |d distributions instead of names "
            "with the class and backend in them"},
    {.name = "tags", .type = KEY_CUSTOM, .parse = parse_tags, .what = "a mapping",
     .def_text = "none", .offset = offsetof(struct sl_config, events),
     .doc = "with dogstatsd: tags added to every line, e.g. {env: prod}"},
};
/* clang-format on */

const struct kind sl_config_events_kind = {
    .noun = "events",
    .keys = events_keys,
    .key_count = sizeof(events_keys) / sizeof(events_keys[0]),
    .target_size = sizeof(struct sl_config),
};

/* "stderr", or an absolute path (sluice may chdir; a relative one would move). */
static int parse_log_path(struct loader *ld, const struct key *key,
                          const struct sl_yaml_node *value, char *target)
{
    const char *text;
    if (sl_config_string(ld, key, value, &text) < 0)
        return -1;
    if (strcmp(text, "stderr") == 0)
        return 0; /* path stays NULL */
    if (text[0] != '/')
        return sl_config_fail_type(ld, key, value);
    char *copy = sl_arena_strndup(ld->cfg->arena, text, strlen(text));
    if (copy == NULL)
        return sl_config_fail_oom(ld);
    memcpy(target + key->offset, &copy, sizeof(copy));
    return 0;
}

#define ACCESS_KEY(field) offsetof(struct sl_config, access_log.field)

/* clang-format off */
static const struct key access_log_keys[] = {
    {.name = "path", .label = "access_log path", .type = KEY_CUSTOM, .parse = parse_log_path,
     .what = "stderr or an absolute file path", .is_required = true, .def_text = "none",
     .offset = ACCESS_KEY(path),
     .doc = "file the lines are appended to (created 0640 if missing), or stderr"},
    {.name = "sample", .type = KEY_UINT, .def = 1, .min = 1, .max = 1000000,
     .offset = ACCESS_KEY(sample),
     .doc = "one request in this many gets a line, per worker"},
    {.name = "always_log_shed", .type = KEY_BOOL, .def = false, .def_text = "false",
     .offset = ACCESS_KEY(always_log_shed),
     .doc = "every shed request gets a line, whatever sample says"},
    /* 256 KiB, not less: written that many at a time, the lines go into the
     * page cache in large folios, and the write costs under half what it did
     * 64 KiB at a time (ext4, Linux 6.18: bench/README.md, "Own cost") */
    {.name = "buffer_bytes", .type = KEY_UINT, .def = 262144, .min = SL_ACCESS_BUFFER_MIN,
     .max = 16777216, .offset = ACCESS_KEY(buffer_bytes),
     .doc = "lines a worker gathers before it writes them"},
    {.name = "flush_interval_ms", .type = KEY_UINT, .def = 1000, .min = 10, .max = 60000,
     .offset = ACCESS_KEY(flush_interval_ms),
     .doc = "the longest a line waits in the buffer"},
};
/* clang-format on */

const struct kind sl_config_access_log_kind = {
    .noun = "access_log",
    .keys = access_log_keys,
    .key_count = sizeof(access_log_keys) / sizeof(access_log_keys[0]),
    .target_size = sizeof(struct sl_config),
};

static bool is_name_text(const struct sl_string *s)
{
    for (size_t i = 0; i < s->len; i++) {
        char c = s->text[i];
        bool is_alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!is_alnum && c != '_' && c != '.' && c != '-')
            return false;
    }
    return true;
}

int sl_config_resolve_events(struct loader *ld, const struct sl_yaml_node *root)
{
    ld->cfg->access_log.is_on = sl_config_find(root, "access_log") != NULL;
    struct sl_events_config *events = &ld->cfg->events;
    const struct sl_yaml_node *map = sl_config_find(root, "events");
    if (map == NULL)
        return 0;
    events->is_on = true;
    if (events->prefix.len == 0)
        events->prefix = (struct sl_string){.text = "sluice", .len = 6};
    if (!is_name_text(&events->prefix)) {
        const struct sl_yaml_node *prefix = sl_config_find(map, "prefix");
        return sl_config_fail(ld, prefix->line,
                              "events prefix must be made of A-Z a-z 0-9 _ . -, got '%s'",
                              events->prefix.text);
    }
    if (events->max_packet_bytes == 0)
        events->max_packet_bytes =
            sl_addr_is_unix(&events->address) ? UNIX_PACKET_BYTES : UDP_PACKET_BYTES;
    if (events->max_packet_bytes < MIN_PACKET_BYTES) {
        const struct sl_yaml_node *size = sl_config_find(map, "max_packet_bytes");
        return sl_config_fail(ld, size->line, "events max_packet_bytes must be at least %d, got %u",
                              MIN_PACKET_BYTES, events->max_packet_bytes);
    }
    return 0;
}
