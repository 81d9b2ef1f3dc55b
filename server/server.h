/* server.h: the HTTP side of the task app: a libmicrohttpd daemon per
 * thread, each run by that thread's upstream loop; routing, authentication,
 * one reply path, one log line per request, and rollouts parked (suspended)
 * while the loop calls the LLM. */
#ifndef B77_SERVER_H
#define B77_SERVER_H

#include "auth.h"
#include "config.h"
#include "dataset.h"

typedef struct server server;

/* Starts listening and serving. cfg, ds and a are borrowed and must outlive
 * the server. NULL on failure (logged). */
server *server_start(const server_config *cfg, const dataset *ds, const auth *a);
/* The port actually bound (useful with port 0). */
int server_port(const server *s);
/* Stops accepting, lets in-flight rollouts finish for up to grace_s seconds,
 * aborts what is left (503), then stops and frees everything. */
void server_stop(server *s, int grace_s);

#endif
