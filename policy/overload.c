/* States: a level in 0..max_level, and whether the samples have been cool
 * without a break since cool_since_ns (is_cool).
 *   hot sample:     level + 1 if below max_level and the last rise is at
 *                   least step_ns old (or the level is 0); the cool run ends.
 *   neutral sample: the cool run ends; the level holds.
 *   cool sample:    a cool run starts here unless one is going; once it has
 *                   lasted step_ns, level - 1 (if above 0) and the run restarts
 *                   at now_ns, so each further fall needs another whole step.
 * Invariant: level > 0 implies last_change_ns holds the latest rise. A fall
 * comes at least step_ns after the last hot sample, hence after the last rise,
 * so a hot sample after any fall may rise at once: rises are rate-limited
 * against rises only, and a fall that proves premature is undone by the next
 * hot sample rather than a step later. */
#include "overload.h"

/* value < percent% of threshold, exactly and without overflow (threshold may
 * be near UINT64_MAX; percent < 100). */
static bool is_below_percent(uint64_t value, uint64_t threshold, unsigned percent)
{
    uint64_t whole = threshold / 100 * percent;
    if (value < whole)
        return true;
    uint64_t rest = value - whole; /* compare rest with (threshold % 100) * percent / 100 */
    return rest < 100 && rest * 100 < (threshold % 100) * percent;
}

static bool is_hot_signal(uint64_t value, uint64_t threshold)
{
    return threshold != 0 && value >= threshold;
}

static bool is_cool_signal(uint64_t value, uint64_t threshold, unsigned percent)
{
    return threshold == 0 || is_below_percent(value, threshold, percent);
}

void sl_overload_init(struct sl_overload *ov, const struct sl_overload_config *cfg)
{
    ov->cfg = *cfg;
    ov->level = 0;
    ov->last_change_ns = 0;
    ov->cool_since_ns = 0;
    ov->is_cool = false;
}

unsigned sl_overload_update(struct sl_overload *ov, uint64_t now_ns,
                            const struct sl_overload_signal *sig)
{
    const struct sl_overload_config *cfg = &ov->cfg;
    bool is_hot = is_hot_signal(sig->loop_lag_ns, cfg->max_loop_lag_ns) ||
                  is_hot_signal(sig->connections, cfg->max_connections) ||
                  is_hot_signal(sig->streams, cfg->max_streams);
    bool is_cool = !is_hot &&
                   is_cool_signal(sig->loop_lag_ns, cfg->max_loop_lag_ns, cfg->recover_percent) &&
                   is_cool_signal(sig->connections, cfg->max_connections, cfg->recover_percent) &&
                   is_cool_signal(sig->streams, cfg->max_streams, cfg->recover_percent);

    if (!is_cool) {
        ov->is_cool = false;
        if (is_hot && ov->level < cfg->max_level &&
            (ov->level == 0 ||
             (now_ns >= ov->last_change_ns && now_ns - ov->last_change_ns >= cfg->step_ns))) {
            ov->level++;
            ov->last_change_ns = now_ns;
        }
        return ov->level;
    }

    if (!ov->is_cool) {
        ov->is_cool = true;
        ov->cool_since_ns = now_ns;
    } else if (now_ns >= ov->cool_since_ns && now_ns - ov->cool_since_ns >= cfg->step_ns) {
        if (ov->level > 0)
            ov->level--;
        ov->cool_since_ns = now_ns;
    }
    return ov->level;
}

unsigned sl_overload_level(const struct sl_overload *ov)
{
    return ov->level;
}

bool sl_overload_sheds(const struct sl_overload *ov, const struct sl_class_policy *cls)
{
    return cls->shed_rank != 0 && cls->shed_rank <= ov->level;
}
