#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#include "addr.h"

static void assert_parse_error(const char *text, const char *expected)
{
    struct sl_addr addr;
    memset(&addr, 0xAB, sizeof(addr));
    struct sl_addr untouched = addr;
    char err[256] = "";
    assert_int_equal(sl_addr_parse(text, &addr, err, sizeof(err)), -1);
    assert_string_equal(err, expected);
    assert_memory_equal(&addr, &untouched, sizeof(addr));
}

static void test_ipv4(void **state)
{
    struct sl_addr addr;
    char err[256] = "";
    assert_int_equal(sl_addr_parse("127.0.0.1:8080", &addr, err, sizeof(err)), 0);
    const struct sockaddr_in *sin = (const struct sockaddr_in *)&addr.ss;
    assert_int_equal(sin->sin_family, AF_INET);
    assert_int_equal(ntohs(sin->sin_port), 8080);
    assert_int_equal(ntohl(sin->sin_addr.s_addr), 0x7f000001);
    assert_int_equal(addr.len, sizeof(struct sockaddr_in));
    assert_string_equal(addr.text, "127.0.0.1:8080");
    assert_false(sl_addr_is_unix(&addr));

    assert_int_equal(sl_addr_parse("0.0.0.0:65535", &addr, err, sizeof(err)), 0);
    assert_int_equal(ntohs(sin->sin_port), 65535);
    assert_int_equal(sin->sin_addr.s_addr, 0);
    assert_int_equal(sl_addr_parse("10.1.2.3:1", &addr, err, sizeof(err)), 0);
    assert_int_equal(ntohs(sin->sin_port), 1);
    assert_int_equal(ntohl(sin->sin_addr.s_addr), 0x0a010203);
}

static void test_ipv6(void **state)
{
    struct sl_addr addr;
    char err[256] = "";
    assert_int_equal(sl_addr_parse("[::1]:8443", &addr, err, sizeof(err)), 0);
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&addr.ss;
    assert_int_equal(sin6->sin6_family, AF_INET6);
    assert_int_equal(ntohs(sin6->sin6_port), 8443);
    assert_memory_equal(&sin6->sin6_addr, &in6addr_loopback, sizeof(in6addr_loopback));
    assert_int_equal(addr.len, sizeof(struct sockaddr_in6));
    assert_string_equal(addr.text, "[::1]:8443");
    assert_false(sl_addr_is_unix(&addr));

    assert_int_equal(sl_addr_parse("[2001:db8::17]:80", &addr, err, sizeof(err)), 0);
    struct in6_addr expected;
    assert_int_equal(inet_pton(AF_INET6, "2001:db8::17", &expected), 1);
    assert_memory_equal(&sin6->sin6_addr, &expected, sizeof(expected));
    assert_int_equal(ntohs(sin6->sin6_port), 80);
}

static void test_unix(void **state)
{
    struct sl_addr addr;
    char err[256] = "";
    assert_int_equal(sl_addr_parse("unix:/run/bidder.sock", &addr, err, sizeof(err)), 0);
    const struct sockaddr_un *sun = (const struct sockaddr_un *)&addr.ss;
    assert_int_equal(sun->sun_family, AF_UNIX);
    assert_string_equal(sun->sun_path, "/run/bidder.sock");
    assert_int_equal(addr.len,
                     offsetof(struct sockaddr_un, sun_path) + strlen("/run/bidder.sock") + 1);
    assert_string_equal(addr.text, "unix:/run/bidder.sock");
    assert_true(sl_addr_is_unix(&addr));
}

static void test_unix_longest_path(void **state)
{
    /* the longest path must fit both sun_path and addr.text with "unix:" */
    size_t max = sizeof(((struct sockaddr_un *)0)->sun_path) - 1;
    if (SL_ADDR_TEXT_MAX - 6 < max)
        max = SL_ADDR_TEXT_MAX - 6;
    char text[256] = "unix:/";
    memset(text + 6, 'a', max - 1);
    text[5 + max] = '\0';
    struct sl_addr addr;
    char err[256] = "";
    assert_int_equal(sl_addr_parse(text, &addr, err, sizeof(err)), 0);
    assert_string_equal(addr.text, text);
    assert_int_equal(strlen(((const struct sockaddr_un *)&addr.ss)->sun_path), max);

    text[5 + max] = 'a';
    text[6 + max] = '\0';
    char expected[128];
    snprintf(expected, sizeof(expected),
             "unix socket path is %zu bytes long; at most %zu bytes fit", max + 1, max);
    assert_parse_error(text, expected);
}

static void test_equal_addresses_are_equal_bytes(void **state)
{
    /* config.c compares listener addresses with memcmp */
    struct sl_addr a, b;
    char err[256] = "";
    memset(&a, 0x11, sizeof(a));
    memset(&b, 0x22, sizeof(b));
    assert_int_equal(sl_addr_parse("127.0.0.1:80", &a, err, sizeof(err)), 0);
    assert_int_equal(sl_addr_parse("127.0.0.1:080", &b, err, sizeof(err)), 0);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(&a.ss, &b.ss, sizeof(a.ss));
}

static void test_errors(void **state)
{
    assert_parse_error("", "the address is empty; write IP:port (e.g. 127.0.0.1:8080), "
                           "[IPv6]:port or unix:/path");
    assert_parse_error("localhost:80", "'localhost' is not an IP address; use an IP address "
                                       "(e.g. 127.0.0.1:8080 or [::1]:8080) or unix:/path");
    assert_parse_error("example.com:443", "'example.com' is not an IP address; use an IP "
                                          "address (e.g. 127.0.0.1:8080 or [::1]:8080) or "
                                          "unix:/path");
    assert_parse_error("127.1:80", "'127.1' is not an IP address; use an IP address "
                                   "(e.g. 127.0.0.1:8080 or [::1]:8080) or unix:/path");
    assert_parse_error("127.0.0.1", "'127.0.0.1' has no port; write IP:port (e.g. "
                                    "127.0.0.1:8080), [IPv6]:port or unix:/path");
    assert_parse_error(":8080", "the IP address is missing before ':'; write 0.0.0.0:8080 to "
                                "listen on every interface");
    assert_parse_error("127.0.0.1:", "the port is missing after ':'");
    assert_parse_error("127.0.0.1:0", "port 0 is out of range (1-65535)");
    assert_parse_error("127.0.0.1:65536", "port 65536 is out of range (1-65535)");
    assert_parse_error("127.0.0.1:99999999999999999999",
                       "port 99999999999999999999 is out of range (1-65535)");
    assert_parse_error("127.0.0.1:http", "port 'http' is not a number");
    assert_parse_error("127.0.0.1:-1", "port '-1' is not a number");
    assert_parse_error("127.0.0.1:+80", "port '+80' is not a number");
    assert_parse_error("::1:80", "an IPv6 address needs brackets, e.g. [::1]:8080");
    assert_parse_error("[::1", "'[' has no matching ']'; write an IPv6 address as [::1]:8080");
    assert_parse_error("[::1]", "expected ':' and a port after ']', e.g. [::1]:8080");
    assert_parse_error("[::1]80", "expected ':' and a port after ']', e.g. [::1]:8080");
    assert_parse_error("[::1]:0", "port 0 is out of range (1-65535)");
    assert_parse_error("[127.0.0.1]:80", "'127.0.0.1' is not an IPv6 address");
    assert_parse_error("[fe80::1%eth0]:80", "'fe80::1%eth0' is not an IPv6 address");
    assert_parse_error("unix:", "unix: needs a socket path, e.g. unix:/run/app.sock");
    assert_parse_error("unix:run/app.sock", "unix socket path 'run/app.sock' must be absolute "
                                            "(start with '/'), e.g. unix:/run/app.sock");
    assert_parse_error("1234567890123456789012345678901234567890123456789012345678901234567890"
                       "1234567890123456789012345678901234567890123456789:80",
                       "'12345678901234567890123456789012...' is too long to be an IP address "
                       "and port");
}

static void test_small_err_buffer(void **state)
{
    struct sl_addr addr;
    char err[8];
    assert_int_equal(sl_addr_parse("localhost:80", &addr, err, sizeof(err)), -1);
    assert_string_equal(err, "'localh");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ipv4),
        cmocka_unit_test(test_ipv6),
        cmocka_unit_test(test_unix),
        cmocka_unit_test(test_unix_longest_path),
        cmocka_unit_test(test_equal_addresses_are_equal_bytes),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_small_err_buffer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
