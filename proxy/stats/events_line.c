#include "events_line.h"

#include <stdio.h>
#include <string.h>

static void put(struct sl_events_line *l, const char *s, size_t len)
{
    if (l->is_overflow || len > sizeof(l->text) - l->len) {
        l->is_overflow = true;
        return;
    }
    memcpy(l->text + l->len, s, len);
    l->len += len;
}

static void put_char(struct sl_events_line *l, char c)
{
    put(l, &c, 1);
}

static bool is_name_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

void sl_events_line_start(struct sl_events_line *l, const char *prefix, size_t prefix_len,
                          const char *name)
{
    l->len = 0;
    l->has_tags = false;
    l->is_overflow = false;
    put(l, prefix, prefix_len);
    put_char(l, '.');
    put(l, name, strlen(name));
}

void sl_events_line_part(struct sl_events_line *l, const char *part)
{
    put_char(l, '.');
    for (const char *c = part; *c != '\0'; c++)
        put_char(l, is_name_byte((unsigned char)*c) ? *c : '_');
}

void sl_events_line_value(struct sl_events_line *l, double value, const char *type, double rate)
{
    char text[64];
    int n;
    if (value == (double)(uint64_t)value)
        n = snprintf(text, sizeof(text), ":%llu|%s", (unsigned long long)value, type);
    else
        n = snprintf(text, sizeof(text), ":%.3f|%s", value, type);
    if (n > 0 && rate < 1.0)
        n += snprintf(text + n, sizeof(text) - (size_t)n, "|@%.6g", rate);
    if (n < 0 || (size_t)n >= sizeof(text)) {
        l->is_overflow = true;
        return;
    }
    put(l, text, (size_t)n);
}

static bool is_tag_byte(unsigned char c)
{
    return c > ' ' && c < 0x7f && c != ',' && c != '|' && c != '#' && c != '@';
}

void sl_events_line_tag(struct sl_events_line *l, const char *name, const char *value)
{
    put(l, l->has_tags ? "," : "|#", l->has_tags ? 1 : 2);
    l->has_tags = true;
    put(l, name, strlen(name));
    put_char(l, ':');
    for (const char *c = value; *c != '\0'; c++)
        put_char(l, is_tag_byte((unsigned char)*c) ? *c : '_');
}

void sl_events_pack_flush(struct sl_events_packer *p)
{
    if (p->lines == 0)
        return;
    if (p->send(p->arg, p->buf, p->len) == 0)
        p->sent_lines += p->lines;
    else
        p->dropped_lines += p->lines;
    p->len = 0;
    p->lines = 0;
}

void sl_events_pack(struct sl_events_packer *p, const struct sl_events_line *l)
{
    if (l->is_overflow || l->len > p->cap) {
        p->dropped_lines++;
        return;
    }
    size_t need = l->len + (p->lines > 0 ? 1 : 0);
    if (p->len + need > p->cap) {
        sl_events_pack_flush(p);
        need = l->len;
    }
    if (p->lines > 0)
        p->buf[p->len++] = '\n';
    memcpy(p->buf + p->len, l->text, l->len);
    p->len += l->len;
    p->lines++;
}
