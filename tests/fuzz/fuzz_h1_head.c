/* libFuzzer: an HTTP/1.1 request head as the front reads it: the byte checks
 * of hpack/h1.c, then http-parser on what they let through. */
#include <stddef.h>
#include <stdint.h>

#include <http_parser.h>

#include "h1.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int on_data(http_parser *p, const char *at, size_t len)
{
    return 0;
}

static int on_event(http_parser *p)
{
    return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_event,
    .on_url = on_data,
    .on_header_field = on_data,
    .on_header_value = on_data,
    .on_headers_complete = on_event,
    .on_body = on_data,
    .on_message_complete = on_event,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (sl_h1_check_request_head((const char *)data, size) != 0)
        return 0;
    http_parser parser;
    http_parser_init(&parser, HTTP_REQUEST);
    http_parser_execute(&parser, &settings, (const char *)data, size);
    return 0;
}
