#include "rules.h"

#include <arpa/inet.h> /* inet_pton: text to bytes, nothing more */
#include <errno.h>
#include <string.h>

#include "pattern.h"

/* Tests one item of a string list against the request's text */
typedef bool (*string_test_fn)(const struct sl_string *item, const char *text, size_t len);

/* ---- CIDRs ---- */

static const uint8_t v4_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static size_t address_bytes(enum sl_ip_family family)
{
    return family == SL_IP_V4 ? 4 : 16;
}

static int parse_address(const char *text, size_t len, struct sl_cidr *cidr)
{
    char buf[INET6_ADDRSTRLEN];
    if (len == 0 || len >= sizeof(buf))
        return -EINVAL;
    memcpy(buf, text, len);
    buf[len] = '\0';
    if (inet_pton(AF_INET, buf, cidr->addr) == 1)
        cidr->family = SL_IP_V4;
    else if (inet_pton(AF_INET6, buf, cidr->addr) == 1)
        cidr->family = SL_IP_V6;
    else
        return -EINVAL;
    return 0;
}

/* Decimal digits only: no sign, no space, nothing after */
static int parse_prefix_len(const char *text, unsigned max_len, unsigned *out)
{
    unsigned value = 0;
    size_t i = 0;
    for (; text[i] >= '0' && text[i] <= '9'; i++) {
        value = value * 10 + (unsigned)(text[i] - '0');
        if (value > max_len)
            return -EINVAL;
    }
    if (i == 0 || text[i] != '\0')
        return -EINVAL;
    *out = value;
    return 0;
}

static bool has_host_bits(const struct sl_cidr *cidr)
{
    size_t first = cidr->prefix_len / 8;
    for (size_t i = first; i < address_bytes(cidr->family); i++) {
        unsigned network_bits = i == first ? cidr->prefix_len % 8 : 0;
        if (cidr->addr[i] & (0xffu >> network_bits))
            return true;
    }
    return false;
}

/* Clients with IPv4-mapped addresses are matched as IPv4 (read_address), so a
 * network written inside ::ffff:0:0/96 is kept as the IPv4 network it means. */
static void unmap_v4(struct sl_cidr *cidr)
{
    if (cidr->family != SL_IP_V6 || cidr->prefix_len < 96 ||
        memcmp(cidr->addr, v4_mapped_prefix, sizeof(v4_mapped_prefix)) != 0)
        return;
    memmove(cidr->addr, cidr->addr + sizeof(v4_mapped_prefix), 4);
    memset(cidr->addr + 4, 0, 12);
    cidr->family = SL_IP_V4;
    cidr->prefix_len -= 96;
}

int sl_cidr_parse(const char *text, struct sl_cidr *out)
{
    struct sl_cidr cidr;
    memset(&cidr, 0, sizeof(cidr));
    const char *slash = strchr(text, '/');
    size_t addr_len = slash != NULL ? (size_t)(slash - text) : strlen(text);
    if (parse_address(text, addr_len, &cidr) != 0)
        return -EINVAL;
    unsigned max_len = (unsigned)address_bytes(cidr.family) * 8;
    cidr.prefix_len = max_len;
    if (slash != NULL && parse_prefix_len(slash + 1, max_len, &cidr.prefix_len) != 0)
        return -EINVAL;
    if (has_host_bits(&cidr))
        return -EINVAL;
    unmap_v4(&cidr);
    *out = cidr;
    return 0;
}

void sl_ip_set(struct sl_ip *ip, enum sl_ip_family family, const uint8_t *bytes)
{
    memset(ip, 0, sizeof(*ip));
    ip->family = family;
    if (family == SL_IP_V6 && memcmp(bytes, v4_mapped_prefix, sizeof(v4_mapped_prefix)) == 0) {
        ip->family = SL_IP_V4;
        memcpy(ip->bytes, bytes + sizeof(v4_mapped_prefix), 4);
    } else if (family != SL_IP_NONE) {
        memcpy(ip->bytes, bytes, address_bytes(family));
    }
}

static bool has_prefix_bits(const uint8_t *a, const uint8_t *b, unsigned prefix_len)
{
    size_t whole = prefix_len / 8;
    if (memcmp(a, b, whole) != 0)
        return false;
    unsigned rest = prefix_len % 8;
    uint8_t mask = (uint8_t)(0xff00u >> rest);
    return rest == 0 || ((a[whole] ^ b[whole]) & mask) == 0;
}

bool sl_cidr_contains(const struct sl_cidr *cidr, const struct sl_ip *ip)
{
    if (ip == NULL || ip->family != cidr->family)
        return false;
    return has_prefix_bits(cidr->addr, ip->bytes, cidr->prefix_len);
}

/* ---- string tests ---- */

static unsigned char lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + ('a' - 'A')) : c;
}

/* memcmp wants valid pointers even for 0 bytes; a config may hold "" as NULL */
static bool bytes_equal(const char *a, size_t a_len, const char *b, size_t b_len)
{
    return a_len == b_len && (a_len == 0 || memcmp(a, b, a_len) == 0);
}

static bool is_equal(const struct sl_string *item, const char *text, size_t len)
{
    return bytes_equal(item->text, item->len, text, len);
}

static bool is_prefix(const struct sl_string *item, const char *text, size_t len)
{
    return item->len <= len && bytes_equal(item->text, item->len, text, item->len);
}

/* ASCII only, on purpose: strncasecmp() depends on the locale */
static bool is_equal_ignoring_case(const struct sl_string *item, const char *text, size_t len)
{
    if (item->len != len)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (lower((unsigned char)item->text[i]) != lower((unsigned char)text[i]))
            return false;
    }
    return true;
}

/* ---- matchers; each holds when it is off ---- */

/* A NULL text (no :path, no :authority) fails any list that is on */
static bool match_any(const struct sl_string *items, size_t count, string_test_fn test,
                      const char *text, size_t len)
{
    if (items == NULL || count == 0)
        return true;
    if (text == NULL)
        return false;
    for (size_t i = 0; i < count; i++) {
        if (test(&items[i], text, len))
            return true;
    }
    return false;
}

static bool match_pattern(const struct sl_pattern *pattern, const char *text, size_t len)
{
    return pattern == NULL || (text != NULL && sl_pattern_match(pattern, text, len));
}

static bool test_header(const struct sl_header_matcher *m, const struct sl_rule_input *in)
{
    size_t len = 0;
    const char *value =
        in->header != NULL ? in->header(in->header_ctx, m->name, m->name_len, &len) : NULL;
    switch (m->test) {
    case SL_HEADER_PRESENT:
        return value != NULL;
    case SL_HEADER_ABSENT:
        return value == NULL;
    case SL_HEADER_EQUALS:
        return value != NULL && bytes_equal(value, len, m->value, m->value_len);
    case SL_HEADER_MATCHES:
        return value != NULL && m->pattern != NULL && sl_pattern_match(m->pattern, value, len);
    }
    return false;
}

static bool match_headers(const struct sl_rule *rule, const struct sl_rule_input *in)
{
    if (rule->headers == NULL)
        return true;
    for (size_t i = 0; i < rule->header_count; i++) {
        if (!test_header(&rule->headers[i], in))
            return false;
    }
    return true;
}

/* A Unix-socket client has no address, so no CIDR holds it */
static bool match_clients(const struct sl_rule *rule, const struct sl_rule_input *in)
{
    if (rule->clients == NULL || rule->client_count == 0)
        return true;
    for (size_t i = 0; i < rule->client_count; i++) {
        if (sl_cidr_contains(&rule->clients[i], in->client))
            return true;
    }
    return false;
}

static bool match_listeners(const struct sl_rule *rule, const struct sl_rule_input *in)
{
    if (rule->listeners == NULL || rule->listener_count == 0)
        return true;
    for (size_t i = 0; i < rule->listener_count; i++) {
        if (rule->listeners[i] == in->listener_index)
            return true;
    }
    return false;
}

static size_t strip_query(const char *path, size_t len)
{
    const char *query = path != NULL ? memchr(path, '?', len) : NULL;
    return query != NULL ? (size_t)(query - path) : len;
}

/* Cheapest matchers first; the pattern, the only one that is not a plain
 * comparison, last. */
bool sl_rule_matches(const struct sl_rule *rule, const struct sl_rule_input *in)
{
    size_t path_len = strip_query(in->path, in->path_len);
    return match_listeners(rule, in) &&
           match_any(rule->methods, rule->method_count, is_equal, in->method, in->method_len) &&
           match_any(rule->authorities, rule->authority_count, is_equal_ignoring_case,
                     in->authority, in->authority_len) &&
           match_any(rule->paths, rule->path_count, is_equal, in->path, path_len) &&
           match_any(rule->path_prefixes, rule->path_prefix_count, is_prefix, in->path, path_len) &&
           match_clients(rule, in) && match_headers(rule, in) &&
           match_pattern(rule->path_pattern, in->path, path_len);
}

size_t sl_rules_first_match(const struct sl_rule *rules, size_t count,
                            const struct sl_rule_input *in)
{
    for (size_t i = 0; i < count; i++) {
        if (sl_rule_matches(&rules[i], in))
            return i;
    }
    return count;
}
