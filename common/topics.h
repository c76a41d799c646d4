/* MQTT topic names of the buyt/v1 contract — the only place they are spelled out.
 *
 *   buyt/v1/{agency}/vehicle/{vehicle}/telemetry  bus -> engine   Telemetry      QoS 1
 *   buyt/v1/{agency}/vehicle/{vehicle}/status     bus -> all      DeviceStatus   QoS 1 retained
 *   buyt/v1/{agency}/vehicle/{vehicle}/cmd        ops -> bus      Command        QoS 1
 *   buyt/v1/{agency}/vehicle/{vehicle}/reply      bus -> ops      CommandReply   QoS 1
 *   buyt/v1/{agency}/vehicle/{vehicle}/ack        engine -> bus   Ack            QoS 1 retained
 *   buyt/v1/{agency}/stop/{stop_id}/board         engine -> signs StopBoard      QoS 1 retained
 */
#ifndef BUYT_TOPICS_H
#define BUYT_TOPICS_H

#include <stddef.h>

#define BUYT_TOPIC_ROOT "buyt/v1"
#define BUYT_TOPIC_MAX 256 /* bytes, including the NUL */
#define BUYT_ID_MAX 64     /* longest agency/vehicle/stop id accepted in a topic, plus NUL */

enum buyt_topic_kind {
    BUYT_TOPIC_UNKNOWN = 0,
    BUYT_TOPIC_TELEMETRY,
    BUYT_TOPIC_STATUS,
    BUYT_TOPIC_CMD,
    BUYT_TOPIC_REPLY,
    BUYT_TOPIC_ACK,
    BUYT_TOPIC_BOARD,
};

/** Writes the topic of `kind` for (agency, id) into buf; id is a vehicle id, or a stop id
 *  for BOARD. Returns 0, or BUYT_EINVAL if an id is empty, holds '/', '+' or '#', or the
 *  topic does not fit. */
int buyt_topic_format(char *buf, size_t len, enum buyt_topic_kind kind, const char *agency,
                      const char *id);

/** Subscription filter for `kind` across all ids of an agency ("+" for every agency).
 *  E.g. (TELEMETRY, "hn") -> "buyt/v1/hn/vehicle/+/telemetry". Returns 0 or BUYT_EINVAL. */
int buyt_topic_filter(char *buf, size_t len, enum buyt_topic_kind kind, const char *agency);

/** Parses a topic. On success returns its kind and copies the agency and the vehicle/stop
 *  id (each buffer BUYT_ID_MAX bytes); returns BUYT_TOPIC_UNKNOWN for anything else. */
enum buyt_topic_kind buyt_topic_parse(const char *topic, char agency[BUYT_ID_MAX],
                                      char id[BUYT_ID_MAX]);

#endif
