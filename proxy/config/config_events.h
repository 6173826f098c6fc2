/* Config keys of the event sink and the access log; internal to config*.c. */
#ifndef SL_CONFIG_EVENTS_H
#define SL_CONFIG_EVENTS_H

#include "config_keys.h"

extern const struct kind sl_config_events_kind;     /* the events mapping */
extern const struct kind sl_config_access_log_kind; /* the access_log mapping */

/* The least access_log buffer_bytes: a longest line fits (SL_ACCESS_LINE_MAX). */
#define SL_ACCESS_BUFFER_MIN 32768

/* After every key is applied: whether events and the access log are on, and the
 * defaults that depend on other keys (the packet size on the address).
 * Returns 0 or -1. */
int sl_config_resolve_events(struct loader *ld, const struct sl_yaml_node *root);

#endif
