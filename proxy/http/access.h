/* A finished request's line in the access log (stats/access_log.h), built from
 * the request and its outcome. */
#ifndef SL_ACCESS_H
#define SL_ACCESS_H

struct sl_request;

/* Writes req's line when the plane has an access log and its sampling wants
 * this request. Called by sl_request_finish, once the outcome is complete. */
void sl_access_record(const struct sl_request *req);

#endif
