/* sluicectl top: the live full-screen view (sluicectl_top.c). */
#ifndef SL_SLUICECTL_TOP_H
#define SL_SLUICECTL_TOP_H

#include "stats.h"

/* Draws seg every second until q is pressed or stdin closes; path is shown in
 * the title. Returns the exit status. */
int sl_top_run(const struct sl_stats_segment *seg, const char *path);

#endif
