/* sluicectl top: the live full-screen view (sluicectl_top.c). */
#ifndef SL_SLUICECTL_TOP_H
#define SL_SLUICECTL_TOP_H

#include "stats.h"

/* Draws *seg every second until q (or Ctrl-C) is pressed or stdin closes;
 * when a reload replaces the file at path, it follows to the new segment
 * (unmapping the old one and updating *seg). Returns the exit status. */
int sl_top_run(const struct sl_stats_segment **seg, const char *path);

#endif
