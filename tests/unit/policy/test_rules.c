#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "pattern.h"
#include "rules.h"

/* clang-format off */
#define TEXT(s) {(s), sizeof(s) - 1}
/* clang-format on */
#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))

struct field {
    const char *name;
    const char *value;
};

struct fields {
    const struct field *items;
    size_t count;
};

static const char *find_header(const void *ctx, const char *name, size_t name_len,
                               size_t *value_len)
{
    const struct fields *fields = ctx;
    for (size_t i = 0; i < fields->count; i++) {
        const struct field *f = &fields->items[i];
        if (strlen(f->name) == name_len && memcmp(f->name, name, name_len) == 0) {
            *value_len = strlen(f->value);
            return f->value;
        }
    }
    return NULL;
}

static const struct field default_fields[] = {
    {"user-agent", "curl/8.5.0"},
    {"x-tenant", "acme"},
    {"x-tenant", "second value is never seen"},
    {"x-empty", ""},
};
static const struct fields default_headers = {default_fields, COUNT_OF(default_fields)};

/* GET https://api.example.com/v1/users/42?page=2 from 192.0.2.10 on listener 1 */
static struct sl_ip default_client;

static struct sl_ip v4_client(const char *text);

static struct sl_rule_input make_input(void)
{
    static const char path[] = "/v1/users/42?page=2";
    default_client = v4_client("192.0.2.10");
    return (struct sl_rule_input){
        .method = "GET",
        .method_len = 3,
        .path = path,
        .path_len = sizeof(path) - 1,
        .authority = "api.example.com",
        .authority_len = 15,
        .client = &default_client,
        .listener_index = 1,
        .header = find_header,
        .header_ctx = &default_headers,
    };
}

static void set_path(struct sl_rule_input *in, const char *path)
{
    in->path = path;
    in->path_len = strlen(path);
}

static struct sl_pattern *compile(const char *src)
{
    struct sl_pattern *pat = NULL;
    char err[128];
    assert_int_equal(sl_pattern_compile(src, &pat, err, sizeof(err)), 0);
    return pat;
}

static struct sl_cidr cidr(const char *text)
{
    struct sl_cidr out;
    assert_int_equal(sl_cidr_parse(text, &out), 0);
    return out;
}

/* A client as the proxy hands it over: its socket's address bytes. */
static struct sl_ip v6_client(const char *text)
{
    uint8_t bytes[16];
    assert_int_equal(inet_pton(AF_INET6, text, bytes), 1);
    struct sl_ip ip;
    sl_ip_set(&ip, SL_IP_V6, bytes);
    return ip;
}

static struct sl_ip v4_client(const char *text)
{
    uint8_t bytes[4];
    assert_int_equal(inet_pton(AF_INET, text, bytes), 1);
    struct sl_ip ip;
    sl_ip_set(&ip, SL_IP_V4, bytes);
    return ip;
}

static bool contains(const char *cidr_text, const struct sl_ip *ip)
{
    struct sl_cidr c = cidr(cidr_text);
    return sl_cidr_contains(&c, ip);
}

/* ---- CIDR parsing ---- */

static void cidr_parses_ipv4(void **state)
{
    struct sl_cidr c = cidr("10.0.0.0/8");
    assert_int_equal(c.family, SL_IP_V4);
    assert_int_equal(c.prefix_len, 8);
    const uint8_t want[4] = {10, 0, 0, 0};
    assert_memory_equal(c.addr, want, 4);

    c = cidr("192.168.1.128/25");
    assert_int_equal(c.prefix_len, 25);
    assert_int_equal(c.addr[3], 128);

    c = cidr("0.0.0.0/0");
    assert_int_equal(c.prefix_len, 0);
}

static void cidr_parses_ipv6(void **state)
{
    struct sl_cidr c = cidr("2001:db8::/32");
    assert_int_equal(c.family, SL_IP_V6);
    assert_int_equal(c.prefix_len, 32);
    const uint8_t want[16] = {0x20, 0x01, 0x0d, 0xb8};
    assert_memory_equal(c.addr, want, 16);

    c = cidr("::/0");
    assert_int_equal(c.family, SL_IP_V6);
    assert_int_equal(c.prefix_len, 0);
}

static void cidr_bare_address_is_a_host(void **state)
{
    struct sl_cidr c = cidr("192.0.2.7");
    assert_int_equal(c.family, SL_IP_V4);
    assert_int_equal(c.prefix_len, 32);
    assert_int_equal(c.addr[3], 7);

    c = cidr("2001:db8::1");
    assert_int_equal(c.family, SL_IP_V6);
    assert_int_equal(c.prefix_len, 128);
    assert_int_equal(c.addr[15], 1);
}

static void cidr_rejects_host_bits(void **state)
{
    struct sl_cidr c;
    assert_int_equal(sl_cidr_parse("10.1.0.0/8", &c), -EINVAL);
    assert_int_equal(sl_cidr_parse("10.0.0.64/25", &c), -EINVAL);
    assert_int_equal(sl_cidr_parse("10.0.0.1/31", &c), -EINVAL);
    assert_int_equal(sl_cidr_parse("2001:db8::1/64", &c), -EINVAL);
    assert_int_equal(sl_cidr_parse("2001:db8:4000::/33", &c), -EINVAL);
    assert_int_equal(sl_cidr_parse("10.1.0.0/16", &c), 0);
    assert_int_equal(sl_cidr_parse("2001:db8:4000::/34", &c), 0);
}

static void cidr_rejects_bad_prefix_len(void **state)
{
    const char *bad[] = {
        "10.0.0.0/33", "10.0.0.0/",    "10.0.0.0/-1", "10.0.0.0/+8", "10.0.0.0/8x",
        "10.0.0.0/ 8", "10.0.0.0/8/8", "::/129",      "::/1000",     "::/x",
    };
    for (size_t i = 0; i < COUNT_OF(bad); i++) {
        struct sl_cidr c;
        if (sl_cidr_parse(bad[i], &c) != -EINVAL)
            fail_msg("\"%s\" was accepted", bad[i]);
    }
    struct sl_cidr c;
    assert_int_equal(sl_cidr_parse("0.0.0.0/32", &c), 0);
    assert_int_equal(sl_cidr_parse("::/128", &c), 0);
}

static void cidr_rejects_garbage(void **state)
{
    const char *bad[] = {
        "",           "/8",        "10.0.0",
        "10.0.0.256", "hello",     "10.0.0.0 ",
        " 10.0.0.0",  "2001:db8:", "2001:db8::g",
        "1.2.3.4.5",  "unix:/x",   "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255.1",
    };
    for (size_t i = 0; i < COUNT_OF(bad); i++) {
        struct sl_cidr c;
        if (sl_cidr_parse(bad[i], &c) != -EINVAL)
            fail_msg("\"%s\" was accepted", bad[i]);
    }
}

static void cidr_failure_leaves_output_alone(void **state)
{
    struct sl_cidr c = cidr("10.0.0.0/8");
    assert_int_equal(sl_cidr_parse("10.1.0.0/8", &c), -EINVAL);
    assert_int_equal(c.family, SL_IP_V4);
    assert_int_equal(c.prefix_len, 8);
    assert_int_equal(c.addr[1], 0);
}

/* ---- CIDR containment ---- */

static void cidr_contains_ipv4(void **state)
{
    struct sl_ip in = v4_client("10.200.3.4");
    assert_true(contains("10.0.0.0/8", &in));
    assert_false(contains("11.0.0.0/8", &in));
    assert_true(contains("10.200.3.4", &in));
    assert_false(contains("10.200.3.5", &in));
    assert_true(contains("0.0.0.0/0", &in));

    struct sl_ip edge = v4_client("192.168.1.127");
    assert_true(contains("192.168.1.0/25", &edge));
    assert_false(contains("192.168.1.128/25", &edge));
    edge = v4_client("192.168.1.128");
    assert_false(contains("192.168.1.0/25", &edge));
    assert_true(contains("192.168.1.128/25", &edge));
}

static void cidr_contains_ipv6(void **state)
{
    struct sl_ip in = v6_client("2001:db8:1234::99");
    assert_true(contains("2001:db8::/32", &in));
    assert_false(contains("2001:db9::/32", &in));
    assert_true(contains("2001:db8:1234::99", &in));
    assert_false(contains("2001:db8:1234::98", &in));
    assert_true(contains("::/0", &in));
    assert_true(contains("2001:db8:1000::/36", &in));
    assert_false(contains("2001:db8:2000::/36", &in));
}

static void cidr_families_do_not_mix(void **state)
{
    struct sl_ip v4 = v4_client("10.0.0.1");
    struct sl_ip v6 = v6_client("::a00:1"); /* 10.0.0.1's bytes, not mapped */
    assert_false(contains("::/0", &v4));
    assert_false(contains("0.0.0.0/0", &v6));
    assert_false(contains("10.0.0.0/8", &v6));
}

static void cidr_ipv4_mapped_client_counts_as_ipv4(void **state)
{
    struct sl_ip mapped = v6_client("::ffff:10.1.2.3");
    assert_true(contains("10.0.0.0/8", &mapped));
    assert_true(contains("10.1.2.3", &mapped));
    assert_false(contains("10.1.2.4", &mapped));
    assert_false(contains("192.168.0.0/16", &mapped));
    assert_false(contains("::/0", &mapped));
}

/* A network written in mapped form means the IPv4 network, for both kinds of
 * client; a wider IPv6 network reaching past the mapped block stays IPv6. */
static void cidr_written_as_mapped_is_ipv4(void **state)
{
    struct sl_cidr cidr;
    assert_int_equal(sl_cidr_parse("::ffff:10.0.0.0/104", &cidr), 0);
    assert_int_equal(cidr.family, SL_IP_V4);
    assert_int_equal(cidr.prefix_len, 8);
    assert_memory_equal(cidr.addr, "\x0a\0\0\0", 4);
    struct sl_ip mapped = v6_client("::ffff:10.1.2.3");
    struct sl_ip plain = v4_client("10.200.0.1");
    struct sl_ip other = v4_client("11.0.0.1");
    assert_true(contains("::ffff:10.0.0.0/104", &mapped));
    assert_true(contains("::ffff:10.0.0.0/104", &plain));
    assert_false(contains("::ffff:10.0.0.0/104", &other));
    assert_int_equal(sl_cidr_parse("::/80", &cidr), 0); /* holds the mapped block */
    assert_int_equal(cidr.family, SL_IP_V6);
}

static void cidr_other_families_never_match(void **state)
{
    struct sl_ip none;
    sl_ip_set(&none, SL_IP_NONE, NULL);
    assert_false(contains("0.0.0.0/0", &none));
    assert_false(contains("::/0", &none));
    struct sl_cidr all = cidr("0.0.0.0/0");
    assert_false(sl_cidr_contains(&all, NULL));
}

/* ---- single matchers ---- */

static void empty_rule_matches_everything(void **state)
{
    struct sl_rule rule = {0};
    struct sl_rule_input in = make_input();
    assert_true(sl_rule_matches(&rule, &in));
    struct sl_rule_input bare = {0}; /* no path, authority, client, headers */
    assert_true(sl_rule_matches(&rule, &bare));
}

static void matchers_with_null_or_zero_count_are_off(void **state)
{
    static const struct sl_string post[] = {TEXT("POST")};
    static const unsigned listener_7[] = {7};
    struct sl_rule rule = {.methods = post, .method_count = 0};
    struct sl_rule_input in = make_input();
    assert_true(sl_rule_matches(&rule, &in));
    rule = (struct sl_rule){.methods = NULL, .method_count = 1};
    assert_true(sl_rule_matches(&rule, &in));
    rule = (struct sl_rule){.listeners = listener_7, .listener_count = 0};
    assert_true(sl_rule_matches(&rule, &in));
}

static void method_is_exact(void **state)
{
    static const struct sl_string get[] = {TEXT("GET")};
    static const struct sl_string lower_get[] = {TEXT("get")};
    static const struct sl_string get_prefix[] = {TEXT("GE")};
    static const struct sl_string post_or_get[] = {TEXT("POST"), TEXT("GET")};
    struct sl_rule_input in = make_input();
    struct sl_rule rule = {.methods = get, .method_count = 1};
    assert_true(sl_rule_matches(&rule, &in));
    rule.methods = lower_get;
    assert_false(sl_rule_matches(&rule, &in));
    rule.methods = get_prefix;
    assert_false(sl_rule_matches(&rule, &in));
    rule = (struct sl_rule){.methods = post_or_get, .method_count = 2};
    assert_true(sl_rule_matches(&rule, &in));
    rule.method_count = 1; /* POST only */
    assert_false(sl_rule_matches(&rule, &in));
}

static void exact_path_ignores_query(void **state)
{
    static const struct sl_string paths[] = {TEXT("/health"), TEXT("/v1/users/42")};
    struct sl_rule rule = {.paths = paths, .path_count = 2};
    struct sl_rule_input in = make_input(); /* /v1/users/42?page=2 */
    assert_true(sl_rule_matches(&rule, &in));
    set_path(&in, "/health");
    assert_true(sl_rule_matches(&rule, &in));
    set_path(&in, "/health?");
    assert_true(sl_rule_matches(&rule, &in));
    set_path(&in, "/health/");
    assert_false(sl_rule_matches(&rule, &in));
    set_path(&in, "/healthz");
    assert_false(sl_rule_matches(&rule, &in));
    set_path(&in, "/v1/users/4");
    assert_false(sl_rule_matches(&rule, &in));
}

static void path_prefix(void **state)
{
    static const struct sl_string prefixes[] = {TEXT("/api/"), TEXT("/static")};
    struct sl_rule rule = {.path_prefixes = prefixes, .path_prefix_count = 2};
    struct sl_rule_input in = make_input();
    assert_false(sl_rule_matches(&rule, &in));
    set_path(&in, "/api/x");
    assert_true(sl_rule_matches(&rule, &in));
    set_path(&in, "/api/");
    assert_true(sl_rule_matches(&rule, &in));
    set_path(&in, "/api");
    assert_false(sl_rule_matches(&rule, &in));
    set_path(&in, "/apix");
    assert_false(sl_rule_matches(&rule, &in));
    set_path(&in, "/static.css");
    assert_true(sl_rule_matches(&rule, &in));
}

static void path_prefix_stops_at_query(void **state)
{
    static const struct sl_string prefixes[] = {TEXT("/search/all")};
    struct sl_rule rule = {.path_prefixes = prefixes, .path_prefix_count = 1};
    struct sl_rule_input in = make_input();
    set_path(&in, "/search?/all");
    assert_false(sl_rule_matches(&rule, &in));
    set_path(&in, "/search/all?q=1");
    assert_true(sl_rule_matches(&rule, &in));
}

static void path_pattern_ignores_query(void **state)
{
    struct sl_pattern *users = compile("^/v1/users/[0-9]+$");
    struct sl_rule rule = {.path_pattern = users};
    struct sl_rule_input in = make_input(); /* /v1/users/42?page=2 */
    assert_true(sl_rule_matches(&rule, &in));
    set_path(&in, "/v1/users/42/posts");
    assert_false(sl_rule_matches(&rule, &in));
    sl_pattern_free(users);

    struct sl_pattern *page = compile("page=2");
    rule.path_pattern = page;
    set_path(&in, "/v1/users/42?page=2");
    assert_false(sl_rule_matches(&rule, &in));
    set_path(&in, "/list/page=2");
    assert_true(sl_rule_matches(&rule, &in));
    sl_pattern_free(page);
}

static void path_matchers_fail_without_path(void **state)
{
    static const struct sl_string paths[] = {TEXT("")};
    struct sl_pattern *any = compile("");
    struct sl_rule_input in = make_input();
    in.path = NULL; /* CONNECT has no :path */
    in.path_len = 0;
    struct sl_rule rule = {.paths = paths, .path_count = 1};
    assert_false(sl_rule_matches(&rule, &in));
    rule = (struct sl_rule){.path_prefixes = paths, .path_prefix_count = 1};
    assert_false(sl_rule_matches(&rule, &in));
    rule = (struct sl_rule){.path_pattern = any};
    assert_false(sl_rule_matches(&rule, &in));
    sl_pattern_free(any);
}

static void authority_ignores_case_but_not_port(void **state)
{
    static const struct sl_string hosts[] = {TEXT("API.Example.COM")};
    static const struct sl_string with_port[] = {TEXT("api.example.com:8443")};
    struct sl_rule rule = {.authorities = hosts, .authority_count = 1};
    struct sl_rule_input in = make_input(); /* api.example.com */
    assert_true(sl_rule_matches(&rule, &in));
    in.authority = "api.example.com:443";
    in.authority_len = strlen(in.authority);
    assert_false(sl_rule_matches(&rule, &in));

    rule.authorities = with_port;
    assert_false(sl_rule_matches(&rule, &in));
    in.authority = "API.EXAMPLE.COM:8443";
    in.authority_len = strlen(in.authority);
    assert_true(sl_rule_matches(&rule, &in));
    in.authority = "api.example.com";
    in.authority_len = strlen(in.authority);
    assert_false(sl_rule_matches(&rule, &in));
}

static void authority_is_whole_value(void **state)
{
    static const struct sl_string hosts[] = {TEXT("example.com"), TEXT("www.example.com")};
    struct sl_rule rule = {.authorities = hosts, .authority_count = 2};
    struct sl_rule_input in = make_input(); /* api.example.com */
    assert_false(sl_rule_matches(&rule, &in));
    in.authority = "WWW.example.com";
    in.authority_len = strlen(in.authority);
    assert_true(sl_rule_matches(&rule, &in));
    in.authority = "example.co";
    in.authority_len = strlen(in.authority);
    assert_false(sl_rule_matches(&rule, &in));
    in.authority = NULL;
    in.authority_len = 0;
    assert_false(sl_rule_matches(&rule, &in));
}

static void header_present_and_absent(void **state)
{
    static const struct sl_header_matcher has_tenant[] = {
        {.name = "x-tenant", .name_len = 8, .test = SL_HEADER_PRESENT}};
    static const struct sl_header_matcher has_empty[] = {
        {.name = "x-empty", .name_len = 7, .test = SL_HEADER_PRESENT}};
    static const struct sl_header_matcher has_debug[] = {
        {.name = "x-debug", .name_len = 7, .test = SL_HEADER_PRESENT}};
    static const struct sl_header_matcher no_debug[] = {
        {.name = "x-debug", .name_len = 7, .test = SL_HEADER_ABSENT}};
    static const struct sl_header_matcher no_tenant[] = {
        {.name = "x-tenant", .name_len = 8, .test = SL_HEADER_ABSENT}};
    struct sl_rule_input in = make_input();
    struct sl_rule rule = {.headers = has_tenant, .header_count = 1};
    assert_true(sl_rule_matches(&rule, &in));
    rule.headers = has_empty;
    assert_true(sl_rule_matches(&rule, &in));
    rule.headers = has_debug;
    assert_false(sl_rule_matches(&rule, &in));
    rule.headers = no_debug;
    assert_true(sl_rule_matches(&rule, &in));
    rule.headers = no_tenant;
    assert_false(sl_rule_matches(&rule, &in));
}

static void header_equals_byte_for_byte(void **state)
{
    struct sl_header_matcher m = {
        .name = "x-tenant", .name_len = 8, .test = SL_HEADER_EQUALS, .value = "acme"};
    m.value_len = 4;
    struct sl_rule rule = {.headers = &m, .header_count = 1};
    struct sl_rule_input in = make_input();
    assert_true(sl_rule_matches(&rule, &in));
    m.value = "ACME";
    assert_false(sl_rule_matches(&rule, &in));
    m.value = "acm";
    m.value_len = 3;
    assert_false(sl_rule_matches(&rule, &in));
    m.value = "second value is never seen";
    m.value_len = strlen(m.value);
    assert_false(sl_rule_matches(&rule, &in)); /* only the first field counts */

    m = (struct sl_header_matcher){.name = "x-empty", .name_len = 7, .test = SL_HEADER_EQUALS};
    assert_true(sl_rule_matches(&rule, &in)); /* "" equals "" */
    m.name = "x-missing";
    m.name_len = 9;
    assert_false(sl_rule_matches(&rule, &in)); /* absent is not "" */
}

static void header_matches_pattern(void **state)
{
    struct sl_pattern *curl = compile("^curl/[0-9.]+$");
    struct sl_header_matcher m = {
        .name = "user-agent", .name_len = 10, .test = SL_HEADER_MATCHES, .pattern = curl};
    struct sl_rule rule = {.headers = &m, .header_count = 1};
    struct sl_rule_input in = make_input();
    assert_true(sl_rule_matches(&rule, &in));
    m.name = "x-tenant";
    m.name_len = 8;
    assert_false(sl_rule_matches(&rule, &in));
    m.name = "x-missing";
    m.name_len = 9;
    assert_false(sl_rule_matches(&rule, &in));
    sl_pattern_free(curl);

    struct sl_pattern *empty = compile("^$");
    m = (struct sl_header_matcher){
        .name = "x-empty", .name_len = 7, .test = SL_HEADER_MATCHES, .pattern = empty};
    assert_true(sl_rule_matches(&rule, &in));
    sl_pattern_free(empty);
}

static void header_name_uses_name_len(void **state)
{
    /* "x-tenant-id" cut to 8 bytes is "x-tenant" */
    static const struct sl_header_matcher m[] = {
        {.name = "x-tenant-id", .name_len = 8, .test = SL_HEADER_PRESENT}};
    struct sl_rule rule = {.headers = m, .header_count = 1};
    struct sl_rule_input in = make_input();
    assert_true(sl_rule_matches(&rule, &in));
}

static void all_header_matchers_must_hold(void **state)
{
    struct sl_header_matcher m[] = {
        {.name = "x-tenant", .name_len = 8, .test = SL_HEADER_PRESENT},
        {.name = "x-debug", .name_len = 7, .test = SL_HEADER_ABSENT},
    };
    struct sl_rule rule = {.headers = m, .header_count = 2};
    struct sl_rule_input in = make_input();
    assert_true(sl_rule_matches(&rule, &in));
    m[1].test = SL_HEADER_PRESENT;
    assert_false(sl_rule_matches(&rule, &in));
    m[1].test = SL_HEADER_ABSENT;
    m[0].test = SL_HEADER_ABSENT;
    assert_false(sl_rule_matches(&rule, &in));
}

static void no_header_callback_means_no_headers(void **state)
{
    static const struct sl_header_matcher present[] = {
        {.name = "x-tenant", .name_len = 8, .test = SL_HEADER_PRESENT}};
    static const struct sl_header_matcher absent[] = {
        {.name = "x-tenant", .name_len = 8, .test = SL_HEADER_ABSENT}};
    struct sl_rule_input in = make_input();
    in.header = NULL;
    struct sl_rule rule = {.headers = present, .header_count = 1};
    assert_false(sl_rule_matches(&rule, &in));
    rule.headers = absent;
    assert_true(sl_rule_matches(&rule, &in));
}

static void client_cidrs(void **state)
{
    struct sl_cidr nets[] = {cidr("10.0.0.0/8"), cidr("192.0.2.0/24")};
    struct sl_rule rule = {.clients = nets, .client_count = 2};
    struct sl_rule_input in = make_input(); /* 192.0.2.10 */
    assert_true(sl_rule_matches(&rule, &in));
    rule.client_count = 1; /* 10/8 only */
    assert_false(sl_rule_matches(&rule, &in));

    struct sl_ip mapped = v6_client("::ffff:10.9.9.9");
    in.client = &mapped;
    assert_true(sl_rule_matches(&rule, &in));
    struct sl_ip v6 = v6_client("2001:db8::1");
    in.client = &v6;
    assert_false(sl_rule_matches(&rule, &in));
}

static void unix_client_matches_no_cidr(void **state)
{
    struct sl_cidr nets[] = {cidr("0.0.0.0/0"), cidr("::/0")};
    struct sl_rule rule = {.clients = nets, .client_count = 2};
    struct sl_rule_input in = make_input();
    in.client = NULL;
    assert_false(sl_rule_matches(&rule, &in));
    struct sl_rule open = {0};
    assert_true(sl_rule_matches(&open, &in));
}

static void listener_index(void **state)
{
    static const unsigned listeners[] = {0, 3};
    struct sl_rule rule = {.listeners = listeners, .listener_count = 2};
    struct sl_rule_input in = make_input(); /* listener 1 */
    assert_false(sl_rule_matches(&rule, &in));
    in.listener_index = 3;
    assert_true(sl_rule_matches(&rule, &in));
    in.listener_index = 0;
    assert_true(sl_rule_matches(&rule, &in));
}

/* ---- combinations and lists of rules ---- */

static void every_matcher_must_hold(void **state)
{
    static const struct sl_string get[] = {TEXT("GET")};
    static const struct sl_string api[] = {TEXT("/v1/")};
    static const struct sl_string host[] = {TEXT("api.example.com")};
    static const struct sl_header_matcher tenant[] = {{.name = "x-tenant",
                                                       .name_len = 8,
                                                       .test = SL_HEADER_EQUALS,
                                                       .value = "acme",
                                                       .value_len = 4}};
    static const unsigned listener_1[] = {1};
    struct sl_cidr net = cidr("192.0.2.0/24");
    struct sl_pattern *users = compile("/users/[0-9]+$");
    const struct sl_rule all = {
        .methods = get,
        .method_count = 1,
        .path_prefixes = api,
        .path_prefix_count = 1,
        .path_pattern = users,
        .authorities = host,
        .authority_count = 1,
        .headers = tenant,
        .header_count = 1,
        .clients = &net,
        .client_count = 1,
        .listeners = listener_1,
        .listener_count = 1,
    };
    struct sl_rule_input in = make_input();
    assert_true(sl_rule_matches(&all, &in));

    struct sl_rule_input miss = in;
    miss.method = "PUT";
    assert_false(sl_rule_matches(&all, &miss));
    miss = in;
    set_path(&miss, "/v2/users/42");
    assert_false(sl_rule_matches(&all, &miss));
    miss = in;
    set_path(&miss, "/v1/users/me");
    assert_false(sl_rule_matches(&all, &miss));
    miss = in;
    miss.authority = "www.example.com";
    miss.authority_len = 15;
    assert_false(sl_rule_matches(&all, &miss));
    miss = in;
    miss.header = NULL;
    assert_false(sl_rule_matches(&all, &miss));
    miss = in;
    miss.client = NULL;
    assert_false(sl_rule_matches(&all, &miss));
    miss = in;
    miss.listener_index = 0;
    assert_false(sl_rule_matches(&all, &miss));
    sl_pattern_free(users);
}

static void first_matching_rule_wins(void **state)
{
    static const struct sl_string post[] = {TEXT("POST")};
    static const struct sl_string v1[] = {TEXT("/v1/")};
    static const struct sl_string users[] = {TEXT("/v1/users/")};
    const struct sl_rule rules[] = {
        {.methods = post, .method_count = 1, .class_index = 10},
        {.path_prefixes = users, .path_prefix_count = 1, .class_index = 11},
        {.path_prefixes = v1, .path_prefix_count = 1, .class_index = 12},
        {.class_index = 13}, /* catch-all */
    };
    struct sl_rule_input in = make_input(); /* GET /v1/users/42 */
    size_t i = sl_rules_first_match(rules, COUNT_OF(rules), &in);
    assert_int_equal(i, 1);
    assert_int_equal(rules[i].class_index, 11);

    set_path(&in, "/v1/orders");
    assert_int_equal(sl_rules_first_match(rules, COUNT_OF(rules), &in), 2);
    in.method = "POST";
    in.method_len = 4;
    assert_int_equal(sl_rules_first_match(rules, COUNT_OF(rules), &in), 0);
    in.method = "GET";
    in.method_len = 3;
    set_path(&in, "/");
    assert_int_equal(sl_rules_first_match(rules, COUNT_OF(rules), &in), 3);
}

static void no_match_returns_count(void **state)
{
    static const struct sl_string post[] = {TEXT("POST")};
    static const unsigned listener_9[] = {9};
    const struct sl_rule rules[] = {
        {.methods = post, .method_count = 1},
        {.listeners = listener_9, .listener_count = 1},
    };
    struct sl_rule_input in = make_input();
    assert_int_equal(sl_rules_first_match(rules, COUNT_OF(rules), &in), 2);
    assert_int_equal(sl_rules_first_match(rules, 0, &in), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cidr_parses_ipv4),
        cmocka_unit_test(cidr_parses_ipv6),
        cmocka_unit_test(cidr_bare_address_is_a_host),
        cmocka_unit_test(cidr_rejects_host_bits),
        cmocka_unit_test(cidr_rejects_bad_prefix_len),
        cmocka_unit_test(cidr_rejects_garbage),
        cmocka_unit_test(cidr_failure_leaves_output_alone),
        cmocka_unit_test(cidr_contains_ipv4),
        cmocka_unit_test(cidr_contains_ipv6),
        cmocka_unit_test(cidr_families_do_not_mix),
        cmocka_unit_test(cidr_ipv4_mapped_client_counts_as_ipv4),
        cmocka_unit_test(cidr_written_as_mapped_is_ipv4),
        cmocka_unit_test(cidr_other_families_never_match),
        cmocka_unit_test(empty_rule_matches_everything),
        cmocka_unit_test(matchers_with_null_or_zero_count_are_off),
        cmocka_unit_test(method_is_exact),
        cmocka_unit_test(exact_path_ignores_query),
        cmocka_unit_test(path_prefix),
        cmocka_unit_test(path_prefix_stops_at_query),
        cmocka_unit_test(path_pattern_ignores_query),
        cmocka_unit_test(path_matchers_fail_without_path),
        cmocka_unit_test(authority_ignores_case_but_not_port),
        cmocka_unit_test(authority_is_whole_value),
        cmocka_unit_test(header_present_and_absent),
        cmocka_unit_test(header_equals_byte_for_byte),
        cmocka_unit_test(header_matches_pattern),
        cmocka_unit_test(header_name_uses_name_len),
        cmocka_unit_test(all_header_matchers_must_hold),
        cmocka_unit_test(no_header_callback_means_no_headers),
        cmocka_unit_test(client_cidrs),
        cmocka_unit_test(unix_client_matches_no_cidr),
        cmocka_unit_test(listener_index),
        cmocka_unit_test(every_matcher_must_hold),
        cmocka_unit_test(first_matching_rule_wins),
        cmocka_unit_test(no_match_returns_count),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
