/* Topic formatting and parsing; see topics.h for the table. */
#include "topics.h"

#include "error.h"

#include <stdio.h>
#include <string.h>

static const char *suffix_of(enum buyt_topic_kind k)
{
    switch (k) {
    case BUYT_TOPIC_TELEMETRY: return "telemetry";
    case BUYT_TOPIC_STATUS: return "status";
    case BUYT_TOPIC_CMD: return "cmd";
    case BUYT_TOPIC_REPLY: return "reply";
    case BUYT_TOPIC_ACK: return "ack";
    case BUYT_TOPIC_BOARD: return "board";
    default: return NULL;
    }
}

static int id_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    return n > 0 && n < BUYT_ID_MAX && !strpbrk(s, "/+#");
}

static int format(char *buf, size_t len, enum buyt_topic_kind kind, const char *agency,
                  const char *id)
{
    const char *sfx = suffix_of(kind);
    if (!sfx)
        return BUYT_EINVAL;
    const char *coll = kind == BUYT_TOPIC_BOARD ? "stop" : "vehicle";
    int n = snprintf(buf, len, BUYT_TOPIC_ROOT "/%s/%s/%s/%s", agency, coll, id, sfx);
    return n < 0 || (size_t)n >= len ? BUYT_EINVAL : 0;
}

int buyt_topic_format(char *buf, size_t len, enum buyt_topic_kind kind, const char *agency,
                      const char *id)
{
    if (!id_ok(agency) || !id_ok(id))
        return BUYT_EINVAL;
    return format(buf, len, kind, agency, id);
}

int buyt_topic_filter(char *buf, size_t len, enum buyt_topic_kind kind, const char *agency)
{
    if (!(agency && !strcmp(agency, "+")) && !id_ok(agency))
        return BUYT_EINVAL;
    return format(buf, len, kind, agency, "+");
}

/* Copies the next '/'-separated segment of *p into out; advances *p past the '/'. */
static int segment(const char **p, char *out, size_t cap)
{
    const char *s = *p, *e = strchr(s, '/');
    size_t n = e ? (size_t)(e - s) : strlen(s);
    if (n == 0 || n >= cap)
        return -1;
    memcpy(out, s, n);
    out[n] = '\0';
    *p = e ? e + 1 : s + n;
    return e ? 1 : 0; /* 1: more segments follow */
}

enum buyt_topic_kind buyt_topic_parse(const char *topic, char agency[BUYT_ID_MAX],
                                      char id[BUYT_ID_MAX])
{
    static const char root[] = BUYT_TOPIC_ROOT "/";
    if (!topic || strncmp(topic, root, sizeof root - 1))
        return BUYT_TOPIC_UNKNOWN;
    const char *p = topic + sizeof root - 1;
    char coll[16], sfx[16];
    if (segment(&p, agency, BUYT_ID_MAX) != 1 || segment(&p, coll, sizeof coll) != 1 ||
        segment(&p, id, BUYT_ID_MAX) != 1 || segment(&p, sfx, sizeof sfx) != 0)
        return BUYT_TOPIC_UNKNOWN;
    int is_stop = !strcmp(coll, "stop");
    if (!is_stop && strcmp(coll, "vehicle"))
        return BUYT_TOPIC_UNKNOWN;
    for (enum buyt_topic_kind k = BUYT_TOPIC_TELEMETRY; k <= BUYT_TOPIC_BOARD; k++) {
        if (!strcmp(sfx, suffix_of(k)) && is_stop == (k == BUYT_TOPIC_BOARD))
            return k;
    }
    return BUYT_TOPIC_UNKNOWN;
}
