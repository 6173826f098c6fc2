/* Config keys of the event sink; internal to config*.c. */
#ifndef SL_CONFIG_EVENTS_H
#define SL_CONFIG_EVENTS_H

#include "config_keys.h"

extern const struct kind sl_config_events_kind; /* the events mapping */

/* After every key is applied: whether events are on, and the defaults that
 * depend on other keys (the packet size on the address). Returns 0 or -1. */
int sl_config_resolve_events(struct loader *ld, const struct sl_yaml_node *root);

#endif
