/* ui.h: --ui, the live page of a run: a read-only HTTP server (libmicrohttpd,
 * its own thread) that serves the latest page the run published.
 *
 * Ownership: the run's thread publishes a page (ui_publish hands it over);
 * the server thread only copies the current page into each response under
 * the lock. Nothing else is shared. */
#ifndef B77_UI_H
#define B77_UI_H

#include <stddef.h>

typedef struct ui ui;

/* Listens on "[HOST:]PORT" (HOST 127.0.0.1 by default; PORT 0: a free one).
 * NULL with a message in err on failure. */
ui *ui_start(const char *where, char *err, size_t errlen);
/* The URL it serves, e.g. "http://127.0.0.1:8765/". */
const char *ui_url(const ui *u);
/* Replaces the page (takes ownership of html) and bumps the version the
 * page's script polls (GET /version). */
void ui_publish(ui *u, char *html, long version);
/* Stops the server (NULL is fine). */
void ui_stop(ui *u);

#endif
