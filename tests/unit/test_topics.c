/* Topic names: formatted and parsed in one place. */
#include "error.h"
#include "mqtt.h"
#include "topics.h"

#include <criterion/criterion.h>

Test(topics, formats_every_kind)
{
    char t[BUYT_TOPIC_MAX];
    cr_assert_eq(buyt_topic_format(t, sizeof t, BUYT_TOPIC_TELEMETRY, "hn", "29B-100"), 0);
    cr_assert_str_eq(t, "buyt/v1/hn/vehicle/29B-100/telemetry");
    cr_assert_eq(buyt_topic_format(t, sizeof t, BUYT_TOPIC_ACK, "hn", "7"), 0);
    cr_assert_str_eq(t, "buyt/v1/hn/vehicle/7/ack");
    cr_assert_eq(buyt_topic_format(t, sizeof t, BUYT_TOPIC_BOARD, "hn", "S0042"), 0);
    cr_assert_str_eq(t, "buyt/v1/hn/stop/S0042/board");
}

Test(topics, refuses_ids_that_would_change_the_topic)
{
    char t[BUYT_TOPIC_MAX];
    cr_assert_eq(buyt_topic_format(t, sizeof t, BUYT_TOPIC_TELEMETRY, "hn", "a/b"), BUYT_EINVAL);
    cr_assert_eq(buyt_topic_format(t, sizeof t, BUYT_TOPIC_TELEMETRY, "hn", "+"), BUYT_EINVAL);
    cr_assert_eq(buyt_topic_format(t, sizeof t, BUYT_TOPIC_TELEMETRY, "#", "1"), BUYT_EINVAL);
    cr_assert_eq(buyt_topic_format(t, sizeof t, BUYT_TOPIC_TELEMETRY, "hn", ""), BUYT_EINVAL);
}

Test(topics, filters_for_subscriptions)
{
    char t[BUYT_TOPIC_MAX];
    cr_assert_eq(buyt_topic_filter(t, sizeof t, BUYT_TOPIC_TELEMETRY, "hn"), 0);
    cr_assert_str_eq(t, "buyt/v1/hn/vehicle/+/telemetry");
    cr_assert_eq(buyt_topic_filter(t, sizeof t, BUYT_TOPIC_STATUS, "+"), 0);
    cr_assert_str_eq(t, "buyt/v1/+/vehicle/+/status");
}

Test(topics, parses_what_it_formats_and_nothing_else)
{
    char a[BUYT_ID_MAX], id[BUYT_ID_MAX];
    cr_assert_eq(buyt_topic_parse("buyt/v1/hn/vehicle/29B-100/telemetry", a, id),
                 BUYT_TOPIC_TELEMETRY);
    cr_assert_str_eq(a, "hn");
    cr_assert_str_eq(id, "29B-100");
    cr_assert_eq(buyt_topic_parse("buyt/v1/hn/stop/S1/board", a, id), BUYT_TOPIC_BOARD);
    cr_assert_str_eq(id, "S1");
    cr_assert_eq(buyt_topic_parse("buyt/v1/hn/vehicle/1/board", a, id), BUYT_TOPIC_UNKNOWN);
    cr_assert_eq(buyt_topic_parse("buyt/v1/hn/stop/1/telemetry", a, id), BUYT_TOPIC_UNKNOWN);
    cr_assert_eq(buyt_topic_parse("buyt/v1/hn/vehicle/1/telemetry/x", a, id), BUYT_TOPIC_UNKNOWN);
    cr_assert_eq(buyt_topic_parse("buyt/v2/hn/vehicle/1/telemetry", a, id), BUYT_TOPIC_UNKNOWN);
    cr_assert_eq(buyt_topic_parse("buyt/v1//vehicle/1/telemetry", a, id), BUYT_TOPIC_UNKNOWN);
    cr_assert_eq(buyt_topic_parse("", a, id), BUYT_TOPIC_UNKNOWN);
}

Test(mqtt_url, parses_credentials_host_and_port)
{
    struct buyt_mqtt_url u;
    cr_assert_eq(buyt_mqtt_url_parse("mqtt://bus%2F1:p%40ss@10.0.0.5:1884", &u), 0);
    cr_assert_str_eq(u.user, "bus/1");
    cr_assert_str_eq(u.pass, "p@ss");
    cr_assert_str_eq(u.host, "10.0.0.5");
    cr_assert_eq(u.port, 1884);
    cr_assert_not(u.tls);
    cr_assert_eq(buyt_mqtt_url_parse("mqtts://broker.example", &u), 0);
    cr_assert(u.tls);
    cr_assert_eq(u.port, 8883);
    cr_assert_str_eq(u.user, "");
}

Test(mqtt_url, rejects_malformed_urls)
{
    struct buyt_mqtt_url u;
    cr_assert_eq(buyt_mqtt_url_parse("http://x", &u), BUYT_EINVAL);
    cr_assert_eq(buyt_mqtt_url_parse("mqtt://", &u), BUYT_EINVAL);
    cr_assert_eq(buyt_mqtt_url_parse("mqtt://h:0", &u), BUYT_EINVAL);
    cr_assert_eq(buyt_mqtt_url_parse("mqtt://h:70000", &u), BUYT_EINVAL);
    cr_assert_eq(buyt_mqtt_url_parse("mqtt://h:12x", &u), BUYT_EINVAL);
    cr_assert_eq(buyt_mqtt_url_parse("mqtt://u:%zz@h", &u), BUYT_EINVAL);
    cr_assert_eq(buyt_mqtt_url_parse("mqtt://h/topic", &u), BUYT_EINVAL);
}
