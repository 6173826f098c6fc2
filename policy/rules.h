/* Rules: which class and backend a request gets. The first rule whose matchers
 * all hold wins; a rule with no matcher matches everything.
 *
 * A rule is plain data filled in at config load (strings, compiled patterns,
 * CIDRs: everything resolved up front), so matching is comparisons only, with
 * no allocation. Path matchers see the path without its query string ('?' and
 * what follows). Names of headers are lowercase, as HTTP/2 sends them. */
#ifndef SL_RULES_H
#define SL_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sl_pattern;

/* An IP address as plain bytes: policy/ takes no socket types. */
enum sl_ip_family { SL_IP_NONE = 0, SL_IP_V4, SL_IP_V6 };

struct sl_ip {
    enum sl_ip_family family;
    uint8_t bytes[16]; /* network byte order; SL_IP_V4 uses the first 4 */
};

/* Sets *ip from raw address bytes (4 for SL_IP_V4, 16 for SL_IP_V6). An
 * IPv4-mapped IPv6 address (::ffff:a.b.c.d) becomes SL_IP_V4: a dual-stack
 * socket's IPv4 clients are matched by IPv4 networks. */
void sl_ip_set(struct sl_ip *ip, enum sl_ip_family family, const uint8_t *bytes);

struct sl_cidr {
    enum sl_ip_family family; /* SL_IP_V4 or SL_IP_V6 */
    unsigned prefix_len;      /* 0..32 or 0..128 */
    uint8_t addr[16];         /* network byte order; bits past prefix_len are zero */
};

/* Parses "10.0.0.0/8", "2001:db8::/32", or a bare address (a /32 or /128).
 * A network inside ::ffff:0:0/96 becomes the IPv4 network it maps
 * ("::ffff:10.0.0.0/104" is 10.0.0.0/8), as mapped clients are matched as IPv4.
 * Returns 0, or -EINVAL when the text is not that, or when bits past the
 * prefix are set ("10.1.0.0/8": a likely typo). */
int sl_cidr_parse(const char *text, struct sl_cidr *out);

/* Whether ip lies in cidr; NULL (a Unix-socket client) or another family
 * never does. */
bool sl_cidr_contains(const struct sl_cidr *cidr, const struct sl_ip *ip);

enum sl_header_test {
    SL_HEADER_PRESENT, /* the header is there, with any value */
    SL_HEADER_ABSENT,  /* the header is not there */
    SL_HEADER_EQUALS,  /* its value is value, byte for byte */
    SL_HEADER_MATCHES, /* its value matches pattern */
};

struct sl_header_matcher {
    const char *name; /* lowercase */
    size_t name_len;
    enum sl_header_test test;
    const char *value; /* SL_HEADER_EQUALS */
    size_t value_len;
    const struct sl_pattern *pattern; /* SL_HEADER_MATCHES */
};

struct sl_string {
    const char *text;
    size_t len;
};

/* Each matcher is off when its count is 0 or its pointer NULL. A list matches
 * when any of its items does; the rule matches when every matcher that is on
 * does. All pointers are borrowed (the config owns them). */
struct sl_rule {
    const struct sl_string *methods; /* exact, case-sensitive (RFC 9110 §9.1) */
    size_t method_count;
    const struct sl_string *paths; /* exact */
    size_t path_count;
    const struct sl_string *path_prefixes;
    size_t path_prefix_count;
    const struct sl_pattern *path_pattern;
    const struct sl_string *authorities; /* ASCII case-insensitive; a port must match too */
    size_t authority_count;
    const struct sl_header_matcher *headers; /* all must hold */
    size_t header_count;
    const struct sl_cidr *clients;
    size_t client_count;
    const unsigned *listeners; /* indexes into the config's listeners */
    size_t listener_count;
    /* the decision */
    unsigned class_index;
    size_t backend_index;
};

/* Returns the value (and its length) of the first field named name (lowercase,
 * name_len bytes), or NULL. */
typedef const char *(*sl_rule_header_fn)(const void *ctx, const char *name, size_t name_len,
                                         size_t *value_len);

struct sl_rule_input {
    const char *method;
    size_t method_len;
    const char *path; /* as received, query included */
    size_t path_len;
    const char *authority; /* :authority, else Host; NULL if neither */
    size_t authority_len;
    const struct sl_ip *client; /* NULL for a Unix-socket client */
    unsigned listener_index;
    sl_rule_header_fn header;
    const void *header_ctx;
};

bool sl_rule_matches(const struct sl_rule *rule, const struct sl_rule_input *in);

/* Index of the first rule in rules[0..count) that matches, or count. */
size_t sl_rules_first_match(const struct sl_rule *rules, size_t count,
                            const struct sl_rule_input *in);

#endif
