#include "headers.h"

#include <stdint.h>
#include <string.h>

#include "arena.h"
#include "writer.h"

#define INITIAL_CAPACITY 16

/* RFC 9113 §6.5.2: each field costs 32 bytes on top of its name and value */
#define FIELD_OVERHEAD 32

/* The names the translations treat apart. A message's field names are
 * looked up once each (scan_fields), by length and then first letter, rather
 * than compared with each of these names in turn in every pass. */
enum kind {
    KIND_OTHER,
    /* Never forwarded in either direction (RFC 9110 §7.6.1, RFC 9113 §8.2.2).
     * expect is among them because sluice does not relay 100-continue;
     * http2-settings belongs to the h2c upgrade, which is hop-by-hop too. */
    KIND_CONNECTION,
    KIND_TRANSFER_ENCODING,
    KIND_HOP_BY_HOP, /* keep-alive, proxy-connection, upgrade, te, http2-settings, expect */
    KIND_HOST,
    KIND_COOKIE,
    KIND_X_FORWARDED_FOR,
    KIND_X_FORWARDED_PROTO,
    KIND_CONTENT_LENGTH,
    /* values an intermediary must not let the HPACK dynamic table remember
     * (RFC 7541 §7.1.3); cookie is one too */
    KIND_SENSITIVE, /* authorization, set-cookie, proxy-authorization */
};

/* clang-format off */
#define LOWER_(c) ((c) >= 'A' && (c) <= 'Z' ? (c) + ('a' - 'A') : (c))
#define ROW4_(b) LOWER_(b), LOWER_((b) + 1), LOWER_((b) + 2), LOWER_((b) + 3)
#define ROW16_(b) ROW4_(b), ROW4_((b) + 4), ROW4_((b) + 8), ROW4_((b) + 12)
#define ROW64_(b) ROW16_(b), ROW16_((b) + 16), ROW16_((b) + 32), ROW16_((b) + 48)
static const unsigned char lower_of[256] = {ROW64_(0), ROW64_(64), ROW64_(128), ROW64_(192)};
#undef ROW64_
#undef ROW16_
#undef ROW4_
#undef LOWER_
/* clang-format on */

/* A lookup instead of two compares and a select (callgrind: 200 fewer
 * instructions in an h2c request). */
static unsigned char lower(unsigned char c)
{
    return lower_of[c];
}

/* ASCII only, on purpose: strncasecmp() depends on the locale */
static bool equal_ignoring_case(const uint8_t *a, size_t a_len, const char *b, size_t b_len)
{
    if (a_len != b_len)
        return false;
    for (size_t i = 0; i < a_len; i++) {
        if (lower(a[i]) != lower((unsigned char)b[i]))
            return false;
    }
    return true;
}

static bool is_named(const nghttp2_nv *nv, const char *name, size_t len)
{
    return equal_ignoring_case(nv->name, nv->namelen, name, len);
}

/* kind if name is text (lowercase, as long as name), else KIND_OTHER */
static enum kind kind_if(const uint8_t *name, const char *text, enum kind kind)
{
    for (size_t i = 0; text[i] != '\0'; i++) {
        if (lower(name[i]) != (unsigned char)text[i])
            return KIND_OTHER;
    }
    return kind;
}

/* By length, then where names share one by the first letter. */
static enum kind kind_of_name(const uint8_t *name, size_t len)
{
    unsigned char first = len > 0 ? lower(name[0]) : 0;
    switch (len) {
    case 2:
        return kind_if(name, "te", KIND_HOP_BY_HOP);
    case 4:
        return kind_if(name, "host", KIND_HOST);
    case 6:
        return first == 'c' ? kind_if(name, "cookie", KIND_COOKIE)
                            : kind_if(name, "expect", KIND_HOP_BY_HOP);
    case 7:
        return kind_if(name, "upgrade", KIND_HOP_BY_HOP);
    case 10:
        if (first == 'c')
            return kind_if(name, "connection", KIND_CONNECTION);
        return first == 'k' ? kind_if(name, "keep-alive", KIND_HOP_BY_HOP)
                            : kind_if(name, "set-cookie", KIND_SENSITIVE);
    case 13:
        return kind_if(name, "authorization", KIND_SENSITIVE);
    case 14:
        return first == 'c' ? kind_if(name, "content-length", KIND_CONTENT_LENGTH)
                            : kind_if(name, "http2-settings", KIND_HOP_BY_HOP);
    case 15:
        return kind_if(name, "x-forwarded-for", KIND_X_FORWARDED_FOR);
    case 16:
        return kind_if(name, "proxy-connection", KIND_HOP_BY_HOP);
    case 17:
        return first == 't' ? kind_if(name, "transfer-encoding", KIND_TRANSFER_ENCODING)
                            : kind_if(name, "x-forwarded-proto", KIND_X_FORWARDED_PROTO);
    case 19:
        return kind_if(name, "proxy-authorization", KIND_SENSITIVE);
    default:
        return KIND_OTHER;
    }
}

static bool is_hop_by_hop(enum kind kind)
{
    return kind == KIND_CONNECTION || kind == KIND_TRANSFER_ENCODING || kind == KIND_HOP_BY_HOP;
}

static bool is_sensitive(enum kind kind)
{
    return kind == KIND_SENSITIVE || kind == KIND_COOKIE;
}

/* clang-format off */
#define IS_ALNUM_(c) (((c) >= 'a' && (c) <= 'z') || ((c) >= 'A' && (c) <= 'Z') || \
                      ((c) >= '0' && (c) <= '9'))
#define IS_TPUNCT_(c) ((c) == '!' || (c) == '#' || (c) == '$' || (c) == '%' || (c) == '&' || \
                       (c) == '\'' || (c) == '*' || (c) == '+' || (c) == '-' || (c) == '.' || \
                       (c) == '^' || (c) == '_' || (c) == '`' || (c) == '|' || (c) == '~')
/* unreserved, sub-delims, pct-encoded's '%', and the ':', '@', '[' and ']'
 * of userinfo, port and IP-literal */
#define IS_AUTHORITY_PUNCT_(c) ((c) == '-' || (c) == '.' || (c) == '_' || (c) == '~' || \
                                (c) == '!' || (c) == '$' || (c) == '&' || (c) == '\'' || \
                                (c) == '(' || (c) == ')' || (c) == '*' || (c) == '+' || \
                                (c) == ',' || (c) == ';' || (c) == '=' || (c) == '%' || \
                                (c) == ':' || (c) == '@' || (c) == '[' || (c) == ']')
#define CLASS_(c) ((IS_ALNUM_(c) || IS_TPUNCT_(c) ? SL_CH_TCHAR : 0) | \
                   ((c) == '\r' || (c) == '\n' || (c) == 0 ? SL_CH_UNSAFE : 0) | \
                   ((c) >= 'A' && (c) <= 'Z' ? SL_CH_UPPER : 0) | \
                   ((c) == '\t' || ((c) >= ' ' && (c) != 0x7f) ? SL_CH_TEXT : 0) | \
                   ((c) > ' ' && (c) != 0x7f ? SL_CH_VISIBLE : 0) | \
                   (IS_ALNUM_(c) || IS_AUTHORITY_PUNCT_(c) ? SL_CH_AUTHORITY : 0))
#define ROW4_(b) CLASS_(b), CLASS_((b) + 1), CLASS_((b) + 2), CLASS_((b) + 3)
#define ROW16_(b) ROW4_(b), ROW4_((b) + 4), ROW4_((b) + 8), ROW4_((b) + 12)
#define ROW64_(b) ROW16_(b), ROW16_((b) + 16), ROW16_((b) + 32), ROW16_((b) + 48)
const uint8_t sl_http_char_class[256] = {ROW64_(0), ROW64_(64), ROW64_(128), ROW64_(192)};
#undef ROW64_
#undef ROW16_
#undef ROW4_
#undef CLASS_
#undef IS_TPUNCT_
#undef IS_AUTHORITY_PUNCT_
#undef IS_ALNUM_
/* clang-format on */

static bool is_any(const uint8_t *s, size_t len, uint8_t class)
{
    for (size_t i = 0; i < len; i++) {
        if (sl_http_char_class[s[i]] & class)
            return true;
    }
    return false;
}

static bool is_token(const uint8_t *s, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (!(sl_http_char_class[s[i]] & SL_CH_TCHAR))
            return false;
    }
    return true;
}

static bool is_safe_value(const uint8_t *s, size_t len)
{
    return !is_any(s, len, SL_CH_UNSAFE);
}

static bool is_safe_text(const char *s)
{
    return is_safe_value((const uint8_t *)s, strlen(s));
}

static bool is_regular_field_valid(const nghttp2_nv *nv)
{
    return is_token(nv->name, nv->namelen) && is_safe_value(nv->value, nv->valuelen);
}

static bool is_ows(uint8_t c)
{
    return c == ' ' || c == '\t';
}

/* Steps to the next element of a comma-separated list (RFC 9110 §5.6.1), OWS
 * trimmed and empty elements skipped. Returns false when none is left. */
static bool next_list_element(const uint8_t **cursor, const uint8_t *end, const uint8_t **elem,
                              size_t *elem_len)
{
    const uint8_t *p = *cursor;
    while (p < end) {
        const uint8_t *start = p;
        while (p < end && *p != ',')
            p++;
        const uint8_t *stop = p;
        if (p < end)
            p++;
        while (start < stop && is_ows(*start))
            start++;
        while (stop > start && is_ows(stop[-1]))
            stop--;
        if (stop > start) {
            *cursor = p;
            *elem = start;
            *elem_len = (size_t)(stop - start);
            return true;
        }
    }
    *cursor = end;
    return false;
}

static bool is_listed_in_value(const nghttp2_nv *connection, const uint8_t *name, size_t len)
{
    return sl_http_list_has_token((const char *)connection->value, connection->valuelen,
                                  (const char *)name, len);
}

bool sl_http_list_has_token(const char *value, size_t value_len, const char *token,
                            size_t token_len)
{
    const uint8_t *cursor = (const uint8_t *)value;
    const uint8_t *end = cursor + value_len;
    const uint8_t *elem;
    size_t elem_len;
    while (next_list_element(&cursor, end, &elem, &elem_len)) {
        if (equal_ignoring_case((const uint8_t *)token, token_len, (const char *)elem, elem_len))
            return true;
    }
    return false;
}

/* What one pass over a message's regular fields found: each field checked
 * (its name a token, its value free of CR, LF and NUL), unless its reader did,
 * and its name looked up, for the passes that then decide what is forwarded. */
struct field_scan {
    const struct sl_header_list *list;
    size_t first;   /* index of the first regular field */
    uint8_t *kinds; /* enum kind of each regular field, by index in the list */
    bool has_connection;
    bool has_transfer_encoding;
};

static int scan_fields(const struct sl_header_list *list, size_t first, struct sl_arena *arena,
                       struct field_scan *scan)
{
    *scan = (struct field_scan){.list = list, .first = first};
    scan->kinds = sl_arena_alloc(arena, list->count > 0 ? list->count : 1);
    if (scan->kinds == NULL)
        return SL_ENOMEM;
    for (size_t i = first; i < list->count; i++) {
        const nghttp2_nv *nv = &list->items[i];
        /* a ':' in a name, a pseudo-header among regular fields included, is no token */
        if (!list->is_checked && !is_regular_field_valid(nv))
            return SL_EINVALID;
        enum kind kind = kind_of_name(nv->name, nv->namelen);
        scan->kinds[i] = (uint8_t)kind;
        scan->has_connection = scan->has_connection || kind == KIND_CONNECTION;
        scan->has_transfer_encoding = scan->has_transfer_encoding || kind == KIND_TRANSFER_ENCODING;
    }
    return 0;
}

/* RFC 9110 §7.6.1: every name a Connection field lists is hop-by-hop as well */
static bool is_listed_in_connection(const struct field_scan *scan, const uint8_t *name, size_t len)
{
    for (size_t i = scan->first; i < scan->list->count; i++) {
        if (scan->kinds[i] == KIND_CONNECTION &&
            is_listed_in_value(&scan->list->items[i], name, len))
            return true;
    }
    return false;
}

/* Is the field at index i of the scanned list for this connection only? */
static bool is_connection_specific(const struct field_scan *scan, size_t i)
{
    if (is_hop_by_hop(scan->kinds[i]))
        return true;
    const nghttp2_nv *nv = &scan->list->items[i];
    return scan->has_connection && is_listed_in_connection(scan, nv->name, nv->namelen);
}

void sl_header_list_init(struct sl_header_list *list, struct sl_arena *arena)
{
    list->items = NULL;
    list->count = 0;
    list->capacity = 0;
    list->total_bytes = 0;
    list->arena = arena;
    list->may_have_uppercase = false;
    list->is_checked = false;
}

/* The old array stays in the arena until reset: doubling keeps that waste
 * below the size of the final array. */
static int grow_items(struct sl_header_list *list)
{
    size_t capacity = list->capacity == 0 ? INITIAL_CAPACITY : list->capacity * 2;
    if (capacity > SIZE_MAX / sizeof(nghttp2_nv))
        return SL_ENOMEM;
    nghttp2_nv *items = sl_arena_alloc(list->arena, capacity * sizeof(nghttp2_nv));
    if (items == NULL)
        return SL_ENOMEM;
    if (list->count > 0)
        memcpy(items, list->items, list->count * sizeof(nghttp2_nv));
    list->items = items;
    list->capacity = capacity;
    return 0;
}

static int append_item(struct sl_header_list *list, uint8_t *name, size_t name_len, uint8_t *value,
                       size_t value_len, uint8_t flags)
{
    if (list->count == list->capacity) {
        int rc = grow_items(list);
        if (rc != 0)
            return rc;
    }
    list->items[list->count++] = (nghttp2_nv){
        .name = name,
        .value = value,
        .namelen = name_len,
        .valuelen = value_len,
        .flags = flags,
    };
    list->total_bytes += name_len + value_len + FIELD_OVERHEAD;
    return 0;
}

#define BYTES_OF(b) (0x0101010101010101ull * (uint8_t)(b))

/* A-Z of eight bytes lowercased at once: 0x20 added to each byte whose low
 * seven bits lie in 'A'..'Z' (the sums below carry into its high bit) and
 * whose high bit is clear; no sum carries out of its byte. */
static uint64_t lowercase_word(uint64_t x)
{
    uint64_t low7 = x & BYTES_OF(0x7f);
    uint64_t from_a = low7 + BYTES_OF(0x80 - 'A');
    uint64_t past_z = low7 + BYTES_OF(0x7f - 'Z');
    uint64_t upper = (from_a ^ past_z) & ~x & BYTES_OF(0x80);
    return x | upper >> 2;
}

static void copy_lowercase_word(uint8_t *to, const char *from)
{
    uint64_t word;
    memcpy(&word, from, sizeof(word));
    word = lowercase_word(word);
    memcpy(to, &word, sizeof(word));
}

/* Names are lowercased as they are copied, eight bytes a step, the last step
 * overlapping the one before: a byte at a time it was 6 instructions a byte. */
static void copy_lowercase(uint8_t *to, const char *from, size_t len)
{
    if (len < 8) {
        for (size_t i = 0; i < len; i++)
            to[i] = lower((unsigned char)from[i]);
        return;
    }
    for (size_t i = 0; i + 8 < len; i += 8)
        copy_lowercase_word(to + i, from + i);
    copy_lowercase_word(to + len - 8, from + len - 8);
}

/* Copies a field into one arena block, name NUL value NUL (an allocation per
 * string was a tenth of sluice's own instructions per request), and appends
 * it. */
static int add_copy(struct sl_header_list *list, const char *name, size_t name_len,
                    const char *value, size_t value_len, uint8_t flags, bool is_lowercased)
{
    if (name_len > SIZE_MAX / 2 - 1 || value_len > SIZE_MAX / 2 - 1)
        return SL_ENOMEM;
    uint8_t *block = sl_arena_alloc(list->arena, name_len + value_len + 2);
    if (block == NULL)
        return SL_ENOMEM;
    if (is_lowercased)
        copy_lowercase(block, name, name_len);
    else
        sl_copy(block, name, name_len);
    block[name_len] = '\0';
    uint8_t *value_copy = block + name_len + 1;
    sl_copy(value_copy, value, value_len);
    value_copy[value_len] = '\0';
    return append_item(list, block, name_len, value_copy, value_len, flags);
}

int sl_header_list_add(struct sl_header_list *list, const char *name, size_t name_len,
                       const char *value, size_t value_len, uint8_t flags)
{
    int rc = add_copy(list, name, name_len, value, value_len, flags, false);
    if (rc == 0)
        list->may_have_uppercase = true;
    return rc;
}

int sl_header_list_add_lowercased(struct sl_header_list *list, const char *name, size_t name_len,
                                  const char *value, size_t value_len)
{
    return add_copy(list, name, name_len, value, value_len, NGHTTP2_NV_FLAG_NONE, true);
}

const nghttp2_nv *sl_header_list_find(const struct sl_header_list *list, const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; i < list->count; i++) {
        if (is_named(&list->items[i], name, len))
            return &list->items[i];
    }
    return NULL;
}

size_t sl_header_list_remove(struct sl_header_list *list, const char *name)
{
    size_t len = strlen(name), kept = 0;
    for (size_t i = 0; i < list->count; i++) {
        const nghttp2_nv *nv = &list->items[i];
        if (is_named(nv, name, len)) {
            list->total_bytes -= nv->namelen + nv->valuelen + FIELD_OVERHEAD;
            continue;
        }
        list->items[kept++] = *nv;
    }
    size_t removed = list->count - kept;
    list->count = kept;
    return removed;
}

size_t sl_header_list_count(const struct sl_header_list *list, const char *name)
{
    size_t len = strlen(name), n = 0;
    for (size_t i = 0; i < list->count; i++)
        n += is_named(&list->items[i], name, len);
    return n;
}

bool sl_header_list_has_token(const struct sl_header_list *list, const char *name,
                              const char *token)
{
    size_t len = strlen(name);
    for (size_t i = 0; i < list->count; i++) {
        const nghttp2_nv *nv = &list->items[i];
        if (is_named(nv, name, len) &&
            is_listed_in_value(nv, (const uint8_t *)token, strlen(token)))
            return true;
    }
    return false;
}

/* ---- HTTP/2 request → HTTP/1.1 request head ---- */

/* What becomes of each regular field of the request */
enum role {
    ROLE_DROP,    /* hop-by-hop, or replaced by a field sluice writes */
    ROLE_FORWARD, /* written as received */
    ROLE_COOKIE,  /* a non-empty crumb of the joined Cookie */
    ROLE_XFF,     /* a non-empty part of the joined X-Forwarded-For */
};

/* Everything the writer needs, gathered and checked before anything is written */
struct request_plan {
    const nghttp2_nv *method;
    const nghttp2_nv *path;
    const nghttp2_nv *authority;
    const nghttp2_nv *scheme;
    const nghttp2_nv *host; /* the one host field, used when :authority is absent */
    struct field_scan scan; /* of the fields after the pseudo-headers (from scan.first) */
    uint8_t *roles;         /* enum role of each of those, by index */
    size_t host_count;
    size_t cookie_count;
    size_t xff_count;
    size_t content_length_count;
    bool is_chunked;
};

static const nghttp2_nv **pseudo_slot(struct request_plan *plan, const nghttp2_nv *nv)
{
    switch (nv->namelen) {
    case 5:
        return is_named(nv, ":path", 5) ? &plan->path : NULL;
    case 7:
        if (is_named(nv, ":method", 7))
            return &plan->method;
        return is_named(nv, ":scheme", 7) ? &plan->scheme : NULL;
    case 10:
        return is_named(nv, ":authority", 10) ? &plan->authority : NULL;
    default:
        return NULL;
    }
}

/* RFC 9113 §8.3: pseudo-headers come first, each at most once, and a request
 * has no others (:protocol of RFC 8441 is not supported). *first_regular is
 * the index of the first field after them. */
static int read_pseudo_headers(const struct sl_header_list *h2, struct request_plan *plan,
                               size_t *first_regular)
{
    size_t i = 0;
    for (; i < h2->count && h2->items[i].namelen > 0 && h2->items[i].name[0] == ':'; i++) {
        const nghttp2_nv *nv = &h2->items[i];
        const nghttp2_nv **slot = pseudo_slot(plan, nv);
        if (slot == NULL || *slot != NULL ||
            (!h2->is_checked && !is_safe_value(nv->value, nv->valuelen)))
            return SL_EINVALID;
        *slot = nv;
    }
    *first_regular = i;
    return 0;
}

static bool is_digits(const uint8_t *s, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
    }
    return true;
}

/* origin-form, or asterisk-form for OPTIONS (RFC 9113 §8.3.1); an absolute-form
 * target would make the backend ignore the Host sluice sends (RFC 9112 §3.2.2),
 * and a space or control byte would split the request line. */
static bool is_request_target_valid(const nghttp2_nv *method, const nghttp2_nv *path)
{
    if (path->valuelen == 0)
        return false;
    for (size_t i = 0; i < path->valuelen; i++) {
        if (path->value[i] <= ' ' || path->value[i] == 0x7f)
            return false;
    }
    if (path->value[0] == '/')
        return true;
    /* methods are case-sensitive (RFC 9110 §9.1) */
    return path->valuelen == 1 && path->value[0] == '*' && method->valuelen == 7 &&
           memcmp(method->value, "OPTIONS", 7) == 0;
}

static enum role classify_request_field(struct request_plan *plan, size_t i)
{
    if (is_connection_specific(&plan->scan, i))
        return ROLE_DROP;
    const nghttp2_nv *nv = &plan->scan.list->items[i];
    switch (plan->scan.kinds[i]) {
    case KIND_HOST:
        if (plan->host_count++ == 0)
            plan->host = nv;
        return ROLE_DROP;
    case KIND_COOKIE:
        plan->cookie_count += nv->valuelen > 0;
        return nv->valuelen > 0 ? ROLE_COOKIE : ROLE_DROP;
    case KIND_X_FORWARDED_FOR:
        plan->xff_count += nv->valuelen > 0;
        return nv->valuelen > 0 ? ROLE_XFF : ROLE_DROP;
    case KIND_X_FORWARDED_PROTO:
        return ROLE_DROP;
    case KIND_CONTENT_LENGTH:
        plan->content_length_count++;
        return ROLE_FORWARD;
    default:
        return ROLE_FORWARD;
    }
}

static int classify_request_fields(const struct sl_header_list *h2, size_t first_regular,
                                   struct sl_arena *arena, struct request_plan *plan)
{
    int rc = scan_fields(h2, first_regular, arena, &plan->scan);
    if (rc != 0)
        return rc;
    plan->roles = sl_arena_alloc(arena, h2->count > 0 ? h2->count : 1);
    if (plan->roles == NULL)
        return SL_ENOMEM;
    for (size_t i = first_regular; i < h2->count; i++) {
        const nghttp2_nv *nv = &h2->items[i];
        enum role role = classify_request_field(plan, i);
        /* two lengths, or one a backend could read otherwise, would allow smuggling */
        if (role == ROLE_FORWARD && plan->scan.kinds[i] == KIND_CONTENT_LENGTH &&
            (plan->content_length_count > 1 || !is_digits(nv->value, nv->valuelen)))
            return SL_EINVALID;
        plan->roles[i] = (uint8_t)role;
    }
    return 0;
}

static int plan_request(const struct sl_header_list *h2, const struct sl_forward_info *fwd,
                        bool has_body, struct sl_arena *arena, struct request_plan *plan)
{
    *plan = (struct request_plan){0};
    if (!is_safe_text(fwd->client_addr) || !is_safe_text(fwd->scheme))
        return SL_EINVALID;
    size_t first_regular;
    int rc = read_pseudo_headers(h2, plan, &first_regular);
    if (rc != 0)
        return rc;
    if (plan->method == NULL || plan->path == NULL ||
        !is_token(plan->method->value, plan->method->valuelen) ||
        !is_request_target_valid(plan->method, plan->path))
        return SL_EINVALID;
    rc = classify_request_fields(h2, first_regular, arena, plan);
    if (rc != 0)
        return rc;
    /* RFC 9112 §3.2: an HTTP/1.1 request carries exactly one Host */
    if (plan->authority == NULL && plan->host_count != 1)
        return SL_EINVALID;
    plan->is_chunked = has_body && plan->content_length_count == 0;
    return 0;
}

static void put_nv_value(struct sl_writer *w, const nghttp2_nv *nv)
{
    sl_put(w, nv->value, nv->valuelen);
}

static void put_field(struct sl_writer *w, const char *name, size_t name_len, const void *value,
                      size_t value_len)
{
    sl_put(w, name, name_len);
    SL_PUT_LITERAL(w, ": ");
    sl_put(w, value, value_len);
    SL_PUT_LITERAL(w, "\r\n");
}

static void put_joined_values(struct sl_writer *w, const struct sl_header_list *h2,
                              const struct request_plan *plan, enum role role, const char *sep,
                              size_t sep_len)
{
    bool is_first = true;
    for (size_t i = plan->scan.first; i < h2->count; i++) {
        if (plan->roles[i] != role)
            continue;
        if (!is_first)
            sl_put(w, sep, sep_len);
        put_nv_value(w, &h2->items[i]);
        is_first = false;
    }
}

static void put_request_line(struct sl_writer *w, const struct request_plan *plan)
{
    put_nv_value(w, plan->method);
    SL_PUT_LITERAL(w, " ");
    put_nv_value(w, plan->path);
    SL_PUT_LITERAL(w, " HTTP/1.1\r\n");
}

static void put_forwarded_fields(struct sl_writer *w, const struct sl_header_list *h2,
                                 const struct request_plan *plan)
{
    for (size_t i = plan->scan.first; i < h2->count; i++) {
        const nghttp2_nv *nv = &h2->items[i];
        if (plan->roles[i] == ROLE_FORWARD)
            put_field(w, (const char *)nv->name, nv->namelen, nv->value, nv->valuelen);
    }
}

static void put_cookie(struct sl_writer *w, const struct sl_header_list *h2,
                       const struct request_plan *plan)
{
    if (plan->cookie_count == 0)
        return;
    SL_PUT_LITERAL(w, "Cookie: ");
    put_joined_values(w, h2, plan, ROLE_COOKIE, "; ", 2);
    SL_PUT_LITERAL(w, "\r\n");
}

/* The received X-Forwarded-For values, then the client's address. */
static void put_x_forwarded_for_value(struct sl_writer *w, const struct sl_header_list *h2,
                                      const struct request_plan *plan, const char *client_addr)
{
    if (plan->xff_count > 0) {
        put_joined_values(w, h2, plan, ROLE_XFF, ", ", 2);
        SL_PUT_LITERAL(w, ", ");
    }
    sl_put(w, client_addr, strlen(client_addr));
}

static void put_x_forwarded_for(struct sl_writer *w, const struct sl_header_list *h2,
                                const struct request_plan *plan, const char *client_addr)
{
    SL_PUT_LITERAL(w, "X-Forwarded-For: ");
    put_x_forwarded_for_value(w, h2, plan, client_addr);
    SL_PUT_LITERAL(w, "\r\n");
}

static void put_request_head(struct sl_writer *w, const struct sl_header_list *h2,
                             const struct request_plan *plan, const struct sl_forward_info *fwd)
{
    const nghttp2_nv *host = plan->authority != NULL ? plan->authority : plan->host;
    put_request_line(w, plan);
    put_field(w, "Host", 4, host->value, host->valuelen);
    put_forwarded_fields(w, h2, plan);
    put_cookie(w, h2, plan);
    put_x_forwarded_for(w, h2, plan, fwd->client_addr);
    put_field(w, "X-Forwarded-Proto", 17, fwd->scheme, strlen(fwd->scheme));
    if (plan->is_chunked)
        SL_PUT_LITERAL(w, "Transfer-Encoding: chunked\r\n");
    SL_PUT_LITERAL(w, "\r\n");
}

int sl_h1_request_head(const struct sl_header_list *h2, const struct sl_forward_info *fwd,
                       bool has_body, struct sl_arena *arena, char **out, size_t *out_len,
                       bool *is_chunked)
{
    struct request_plan plan;
    int rc = plan_request(h2, fwd, has_body, arena, &plan);
    if (rc != 0)
        return rc;
    /* Each field takes its name and value and 4 bytes; the list counts 32 for
     * it. The rest is sluice's own fields and the client's address. */
    size_t guess = h2->total_bytes + strlen(fwd->client_addr) + strlen(fwd->scheme) + 128;
    struct sl_writer w = {.buf = sl_arena_alloc(arena, guess + 1), .cap = guess};
    if (w.buf == NULL)
        return SL_ENOMEM;
    put_request_head(&w, h2, &plan, fwd);
    if (!sl_writer_fits(&w)) {
        w = (struct sl_writer){.buf = sl_arena_alloc(arena, w.len + 1), .cap = w.len};
        if (w.buf == NULL)
            return SL_ENOMEM;
        put_request_head(&w, h2, &plan, fwd);
    }
    char *buf = w.buf;
    buf[w.len] = '\0';
    *out = buf;
    *out_len = w.len;
    *is_chunked = plan.is_chunked;
    return 0;
}

/* ---- HTTP/1.1 response → HTTP/2 response fields ---- */

static int make_status_field(struct sl_arena *arena, unsigned status, nghttp2_nv *nv)
{
    char digits[3] = {
        (char)('0' + status / 100),
        (char)('0' + status / 10 % 10),
        (char)('0' + status % 10),
    };
    char *name = sl_arena_strndup(arena, ":status", 7);
    char *value = sl_arena_strndup(arena, digits, sizeof(digits));
    if (name == NULL || value == NULL)
        return SL_ENOMEM;
    *nv = (nghttp2_nv){
        .name = (uint8_t *)name,
        .value = (uint8_t *)value,
        .namelen = 7,
        .valuelen = sizeof(digits),
        .flags = NGHTTP2_NV_FLAG_NONE,
    };
    return 0;
}

/* RFC 9113 §8.2.1: field names are lowercase in HTTP/2. A name that already is
 * (the usual case) and every value are borrowed from the list, not copied; a
 * list whose names were all lowercased on the way in is not even scanned. */
static int make_h2_field(struct sl_arena *arena, const struct sl_header_list *from, size_t at,
                         enum kind kind, nghttp2_nv *nv)
{
    const nghttp2_nv *field = &from->items[at];
    *nv = *field;
    if (from->may_have_uppercase && is_any(field->name, field->namelen, SL_CH_UPPER)) {
        uint8_t *name = sl_arena_alloc(arena, field->namelen + 1);
        if (name == NULL)
            return SL_ENOMEM;
        for (size_t i = 0; i < field->namelen; i++)
            name[i] = lower(field->name[i]);
        name[field->namelen] = '\0';
        nv->name = name;
    }
    if (is_sensitive(kind))
        nv->flags |= NGHTTP2_NV_FLAG_NO_INDEX;
    return 0;
}

/* RFC 9112 §6.3: Transfer-Encoding overrides Content-Length, and the length a
 * chunked message also carries is not the length of the relayed body. RFC 9110
 * §8.6: a 204 has no Content-Length, whatever the backend wrote. */
static bool is_dropped_from_response(const struct field_scan *scan, size_t i, bool is_length_void)
{
    if (is_connection_specific(scan, i))
        return true;
    return is_length_void && scan->kinds[i] == KIND_CONTENT_LENGTH;
}

int sl_h2_response_fields(const struct sl_header_list *h1, unsigned status, struct sl_arena *arena,
                          nghttp2_nv **out, size_t *count)
{
    if (status < 200 || status > 599)
        return SL_EINVALID;
    struct field_scan scan;
    int rc = scan_fields(h1, 0, arena, &scan);
    if (rc != 0)
        return rc;
    if (h1->count > SIZE_MAX / sizeof(nghttp2_nv) - 1)
        return SL_ENOMEM;
    nghttp2_nv *fields = sl_arena_alloc(arena, (h1->count + 1) * sizeof(nghttp2_nv));
    if (fields == NULL)
        return SL_ENOMEM;
    rc = make_status_field(arena, status, &fields[0]);
    if (rc != 0)
        return rc;
    bool is_length_void = status == 204 || scan.has_transfer_encoding;
    size_t n = 1;
    for (size_t i = 0; i < h1->count; i++) {
        if (is_dropped_from_response(&scan, i, is_length_void))
            continue;
        rc = make_h2_field(arena, h1, i, scan.kinds[i], &fields[n]);
        if (rc != 0)
            return rc;
        n++;
    }
    *out = fields;
    *count = n;
    return 0;
}

/* ---- any request → HTTP/2 request fields, for an h2c backend ---- */

static nghttp2_nv make_nv(const char *name, size_t name_len, const void *value, size_t value_len,
                          uint8_t flags)
{
    return (nghttp2_nv){
        .name = (uint8_t *)name,
        .value = (uint8_t *)value,
        .namelen = name_len,
        .valuelen = value_len,
        .flags = flags,
    };
}

static nghttp2_nv pseudo_nv(const char *name, size_t name_len, const nghttp2_nv *from)
{
    return make_nv(name, name_len, from->value, from->valuelen, NGHTTP2_NV_FLAG_NONE);
}

static int make_x_forwarded_for(const struct sl_header_list *h2, const struct request_plan *plan,
                                const char *client_addr, struct sl_arena *arena, nghttp2_nv *nv)
{
    struct sl_writer counter = {0};
    put_x_forwarded_for_value(&counter, h2, plan, client_addr);
    char *buf = sl_arena_alloc(arena, counter.len + 1);
    if (buf == NULL)
        return SL_ENOMEM;
    struct sl_writer w = {.buf = buf, .cap = counter.len};
    put_x_forwarded_for_value(&w, h2, plan, client_addr);
    buf[w.len] = '\0';
    *nv = make_nv("x-forwarded-for", 15, buf, w.len, NGHTTP2_NV_FLAG_NONE);
    return 0;
}

int sl_h2_request_fields(const struct sl_header_list *h2, const struct sl_forward_info *fwd,
                         size_t spare, struct sl_arena *arena, nghttp2_nv **out, size_t *count)
{
    struct request_plan plan;
    int rc = plan_request(h2, fwd, false, arena, &plan);
    if (rc != 0)
        return rc;
    size_t regular = h2->count - plan.scan.first;
    if (regular > SIZE_MAX / sizeof(nghttp2_nv) - 6 - spare)
        return SL_ENOMEM;
    /* four pseudo-headers, the regular fields, X-Forwarded-For and -Proto */
    nghttp2_nv *fields = sl_arena_alloc(arena, (4 + regular + 2 + spare) * sizeof(nghttp2_nv));
    if (fields == NULL)
        return SL_ENOMEM;
    const nghttp2_nv *authority = plan.authority != NULL ? plan.authority : plan.host;
    size_t n = 0;
    fields[n++] = pseudo_nv(":method", 7, plan.method);
    fields[n++] = make_nv(":scheme", 7, fwd->scheme, strlen(fwd->scheme), NGHTTP2_NV_FLAG_NONE);
    fields[n++] = pseudo_nv(":authority", 10, authority);
    fields[n++] = pseudo_nv(":path", 5, plan.path);
    for (size_t i = plan.scan.first; i < h2->count; i++) {
        /* cookie crumbs stay apart: HPACK compresses them better (RFC 9113 §8.2.3) */
        if (plan.roles[i] != ROLE_FORWARD && plan.roles[i] != ROLE_COOKIE)
            continue;
        rc = make_h2_field(arena, h2, i, plan.scan.kinds[i], &fields[n++]);
        if (rc != 0)
            return rc;
    }
    rc = make_x_forwarded_for(h2, &plan, fwd->client_addr, arena, &fields[n++]);
    if (rc != 0)
        return rc;
    fields[n++] =
        make_nv("x-forwarded-proto", 17, fwd->scheme, strlen(fwd->scheme), NGHTTP2_NV_FLAG_NONE);
    *out = fields;
    *count = n;
    return 0;
}
