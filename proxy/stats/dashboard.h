/* The admin listener's dashboard page (dashboard.c). */
#ifndef SL_DASHBOARD_H
#define SL_DASHBOARD_H

/* A complete HTML page (CSS and JavaScript inline), NUL-terminated. */
extern const char sl_dashboard_html[];

#endif
