/* The onboard agent: wires the bus's inputs to the journal and the broker on one libuv loop.
 *
 *   GNSS serial --bytes--> NMEA parser --epoch--> reporting policy --Fix record--+
 *   RFID serial --bytes--> framing --card--> card id, debounce --CardTap----------+--> journal
 *                                              driver list --DriverEvent---------+    (append)
 *   health timer / health_request ------------------------------Health----------+       |
 *                                                                                 uplink (live,
 *   broker: .../ack (retained) --> journal trim;  .../cmd --> command --> .../reply  drain) -> MQTT
 *
 * Every record is validated and encoded once (frame.h), appended to the journal, and only then
 * published. The agent owns every handle it creates; buyt_agent_stop() takes them all down.
 * Behaviour, configuration and operations: docs/ONBOARD.md. */
#ifndef BUYT_AGENT_H
#define BUYT_AGENT_H

#include "agent_config.h"

#include <uv.h>

#define BUYT_ONBOARD_VERSION "0.1.0"

/* The GNSS date floor when the journal holds no later time: no receiver date is taken before
 * it - 1 day (a date 1024 weeks earlier is a GPS week rollover and is corrected). The release
 * date of this version: 2026-11-01T00:00:00Z. */
#define BUYT_ONBOARD_TIME_FLOOR_MS 1793491200000LL

struct buyt_agent;

/** Creates the agent on `loop` from `cfg` (copied, secrets included; the caller may clear its
 *  own copy). Opens the journal (recovering it), loads the driver list, prepares the broker
 *  client and the serial ports, but starts nothing. Blocks on file I/O: call at start-up.
 *  Returns 0, or a negative error with a one-line reason in err: the journal cannot be opened
 *  (-EWOULDBLOCK: another agent holds it), BUYT_ENOMEM, BUYT_EINVAL. */
int buyt_agent_new(uv_loop_t *loop, const struct buyt_agent_config *cfg, struct buyt_agent **out,
                   char *err, size_t errlen);

/** Starts: opens the serial ports, connects to the broker, journals a first Health record, arms
 *  the timers. Returns 0. */
int buyt_agent_start(struct buyt_agent *a);

/** Reloads the driver list file in a worker thread and swaps it in when loaded (SIGHUP). The
 *  sign-in state is kept. No-op without drivers_file or while a reload runs. */
void buyt_agent_reload(struct buyt_agent *a);

/** Clean shutdown: stops reading the ports, journals the sign-out of a signed-in driver, stops
 *  publishing, syncs the journal, publishes the retained OFFLINE status (waiting up to 2 s for
 *  its PUBACK), disconnects cleanly (the broker drops the will), closes every handle, closes
 *  the journal and frees `a`; then `done` (may be NULL) runs. Safe from any callback. */
void buyt_agent_stop(struct buyt_agent *a, void (*done)(void *arg), void *arg);

#endif
