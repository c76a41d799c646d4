/* Helpers for Criterion tests. Integration tests run under tools/servers.sh, which starts a
 * throwaway PostgreSQL and mosquitto and exports their coordinates (BUYT_PG, BUYT_MQTT_*);
 * these helpers read them, make fresh migrated databases, and stop/start the servers for
 * fault tests. Paths: BUYT_SOURCE_DIR, BUYT_BIN_DIR, BUYT_SHARED_DATA_DIR (compile-time). */
#ifndef BUYT_TESTKIT_H
#define BUYT_TESTKIT_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

/** Value of a harness variable; fails the test (with how to run it) if unset. */
const char *buyt_test_env(const char *name);

/** Creates an empty database with a unique name, applies the migrations, and writes its
 *  conninfo into `out`. Fails the test on error. */
void buyt_test_fresh_db(char *out, size_t len);

/** Connects (fails the test on error). */
PGconn *buyt_test_pg_connect(const char *conninfo);

/** Runs a query returning one integer (first row, first column); fails the test on error. */
long long buyt_test_sql_int(PGconn *c, const char *sql);

/** Runs a command; fails the test on error. */
void buyt_test_sql_exec(PGconn *c, const char *sql);

/** tools/servers.sh ACTION $BUYT_SERVERS_DIR (pg-stop, pg-start, mqtt-stop, mqtt-kill,
 *  mqtt-start). Fails the test if the script fails. */
void buyt_test_servers(const char *action);

/** Adds a broker account (device tests: name = vehicle id). */
void buyt_test_mqtt_account(const char *name, const char *pass);

/** Path of `rel` under ../shared/data, or NULL (and a notice on stderr) if absent. */
const char *buyt_test_shared_data(const char *rel, char *buf, size_t len);

/** Runs `loop` until done(arg) is true or timeout_ms passes. Returns done(arg). */
bool buyt_test_run_until(uv_loop_t *loop, bool (*done)(void *arg), void *arg, int timeout_ms);

struct buyt_batch;
/** Writes batch b into the spool directory `dir` as an engine from before migration 0006 did
 *  (column layout 1, batch.h: stop events without run_start_s), for upgrade tests. The last
 *  field of b's stop-event rows is dropped in place. Fails the test on error. */
void buyt_test_spool_write_layout1(const char *dir, struct buyt_batch *b);

#endif
