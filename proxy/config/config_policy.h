/* Config keys of classes, rules, admission and overload; internal to config*.c. */
#ifndef SL_CONFIG_POLICY_H
#define SL_CONFIG_POLICY_H

#include "config_keys.h"

extern const struct kind sl_config_class_kind;    /* a classes entry */
extern const struct kind sl_config_rule_kind;     /* a rules entry */
extern const struct kind sl_config_overload_kind; /* the overload mapping */

/* KEY_CUSTOM parsers: a class name into a const struct sl_class_config *, and
 * "static"/"adaptive" into an enum sl_limiter_kind, at key->offset. */
int sl_config_parse_class_ref(struct loader *ld, const struct key *key,
                              const struct sl_yaml_node *value, char *target);
/* A header name into a struct sl_string at key->offset, lowercase; an empty
 * value gives an empty string (off). */
int sl_config_parse_header_name(struct loader *ld, const struct key *key,
                                const struct sl_yaml_node *value, char *target);
int sl_config_parse_limiter(struct loader *ld, const struct key *key,
                            const struct sl_yaml_node *value, char *target);

/* After every key is applied: the implicit class, defaults of rules, the
 * catch-all rule, class policies, and admission defaults. Returns 0 or -1. */
int sl_config_resolve_policy(struct loader *ld, const struct sl_yaml_node *root);

/* Frees the patterns compiled into cfg (its arena holds everything else). */
void sl_config_free_patterns(struct sl_config *cfg);

#endif
