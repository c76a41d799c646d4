/* The driver list (parsed from a local text file) and the sign-in/sign-out state machine. See
 * drivers.h and docs/RFID.md. Loading allocates (one array, grown geometrically); taps do not. */
#include "drivers.h"

#include "error.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

struct buyt_drivers {
    struct buyt_drivers_entry *v;
    size_t n, cap;
    unsigned bad_lines;
};

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* A field of a line: [p, p + n). */
struct span {
    const char *p;
    size_t n;
};

static struct span next_token(const char **s, const char *end)
{
    const char *p = *s;
    while (p < end && is_blank(*p))
        p++;
    const char *q = p;
    while (q < end && !is_blank(*q))
        q++;
    *s = q;
    return (struct span){p, (size_t)(q - p)};
}

static bool has_prefix(struct span t, const char *prefix)
{
    const size_t n = strlen(prefix);
    return t.n >= n && strncasecmp(t.p, prefix, n) == 0;
}

/* Hex bytes with optional ':' or '-' between bytes into out[0..max); returns the byte count or
 * 0 if malformed or too long. */
static size_t parse_hex_bytes(const char *s, size_t n, uint8_t *out, size_t max)
{
    size_t digits = 0;
    bool after_sep = false;
    for (size_t i = 0; i < n; i++) {
        const int v = hex_digit(s[i]);
        if (v < 0) {
            if ((s[i] != ':' && s[i] != '-') || digits % 2 != 0 || digits == 0 || after_sep)
                return 0;
            after_sep = true;
            continue;
        }
        after_sep = false;
        if (digits >= 2 * max)
            return 0;
        if (digits % 2 == 0)
            out[digits / 2] = (uint8_t)(v << 4);
        else
            out[digits / 2] |= (uint8_t)v;
        digits++;
    }
    if (after_sep || digits == 0 || digits % 2 != 0)
        return 0;
    return digits / 2;
}

/* Parses the card field into e. Returns NULL or the reason; *crypto_err set if HMAC failed. */
static const char *parse_card(struct span t, const struct buyt_cardid_key *key,
                              struct buyt_drivers_entry *e, int *crypto_err)
{
    if (has_prefix(t, "uid:")) {
        uint8_t uid[BUYT_RFID_UID_MAX];
        const size_t nb = parse_hex_bytes(t.p + 4, t.n - 4, uid, sizeof uid);
        if (nb == 0) {
            OPENSSL_cleanse(uid, sizeof uid);
            return "uid: needs 1 to 10 bytes of hex (pairs, optionally separated by ':' or '-')";
        }
        *crypto_err = buyt_cardid_hmac(key, uid, nb, e->card_id);
        OPENSSL_cleanse(uid, sizeof uid);
        return *crypto_err ? "card id could not be computed" : NULL;
    }
    if (has_prefix(t, "cid:")) {
        if (t.n - 4 != BUYT_CARDID_HEX_LEN ||
            parse_hex_bytes(t.p + 4, t.n - 4, e->card_id, BUYT_CARDID_BYTES) != BUYT_CARDID_BYTES)
            return "cid: needs exactly 32 hex digits";
        return NULL;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < t.n; i++) {
        if (t.p[i] < '0' || t.p[i] > '9')
            return "card must be a decimal card number, uid:HEX or cid:HEX";
        const uint64_t d = (uint64_t)(t.p[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return "card number is too large";
        v = v * 10 + d;
    }
    e->by_number = true;
    e->number = v;
    return NULL;
}

static bool same_card(const struct buyt_drivers_entry *a, const struct buyt_drivers_entry *b)
{
    if (a->by_number != b->by_number)
        return false;
    if (a->by_number)
        return a->number == b->number;
    return CRYPTO_memcmp(a->card_id, b->card_id, BUYT_CARDID_BYTES) == 0;
}

/* Parses one line (without its terminator) into e. Returns NULL (entry), "" (blank or comment),
 * or the reason. Duplicates are found afterwards (drop_duplicates). */
static const char *parse_line(const char *s, size_t n, const struct buyt_cardid_key *key,
                              struct buyt_drivers_entry *e, int *crypto_err)
{
    if (n > BUYT_DRIVERS_LINE_MAX)
        return "line is too long";
    if (memchr(s, '\0', n))
        return "line contains a NUL byte";
    /* A comment starts with '#' at the start of the line or after a blank. */
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '#' && (i == 0 || is_blank(s[i - 1]))) {
            n = i;
            break;
        }
    }
    const char *p = s, *end = s + n;
    const struct span card = next_token(&p, end);
    if (card.n == 0)
        return "";
    const struct span id = next_token(&p, end);
    if (id.n == 0)
        return "missing driver id after the card";
    if (id.n > BUYT_DRIVERS_ID_MAX)
        return "driver id is longer than 32 characters";
    for (size_t i = 0; i < id.n; i++) {
        if ((unsigned char)id.p[i] < 0x21 || (unsigned char)id.p[i] > 0x7e)
            return "driver id has a character outside printable ASCII";
    }
    while (p < end && is_blank(*p))
        p++;
    while (end > p && is_blank(end[-1]))
        end--;
    const size_t name_len = (size_t)(end - p);
    if (name_len > BUYT_DRIVERS_NAME_MAX)
        return "name is longer than 96 bytes";
    for (size_t i = 0; i < name_len; i++) {
        if (((unsigned char)p[i] < 0x20 && p[i] != '\t') || p[i] == 0x7f)
            return "name contains a control character";
    }

    memset(e, 0, sizeof *e);
    const char *bad = parse_card(card, key, e, crypto_err);
    if (bad)
        return bad;
    memcpy(e->driver_id, id.p, id.n);
    memcpy(e->name, p, name_len);
    return NULL;
}

/* Orders entries by card, then by line, so that duplicates are adjacent, first line first. */
static int card_order(const void *pa, const void *pb)
{
    const struct buyt_drivers_entry *a = *(const struct buyt_drivers_entry *const *)pa;
    const struct buyt_drivers_entry *b = *(const struct buyt_drivers_entry *const *)pb;
    int c = (int)a->by_number - (int)b->by_number;
    if (c == 0 && a->by_number)
        c = (a->number > b->number) - (a->number < b->number);
    else if (c == 0)
        c = memcmp(a->card_id, b->card_id, BUYT_CARDID_BYTES);
    if (c == 0)
        c = (a->line > b->line) - (a->line < b->line);
    return c;
}

/* Removes every entry whose card an earlier line already names, reporting it as a bad line
 * (in line order). Sorting keeps this O(n log n) for large lists. */
static int drop_duplicates(struct buyt_drivers *d, buyt_drivers_bad_line_cb bad, void *arg)
{
    if (d->n < 2)
        return 0;
    const struct buyt_drivers_entry **by_card = malloc(d->n * sizeof *by_card);
    unsigned *first_line = calloc(d->n, sizeof *first_line); /* 0: not a duplicate */
    if (!by_card || !first_line) {
        free(by_card);
        free(first_line);
        return BUYT_ENOMEM;
    }
    for (size_t i = 0; i < d->n; i++)
        by_card[i] = &d->v[i];
    qsort(by_card, d->n, sizeof *by_card, card_order);
    size_t group = 0;
    for (size_t i = 1; i < d->n; i++) {
        if (same_card(by_card[i], by_card[group]))
            first_line[by_card[i] - d->v] = by_card[group]->line;
        else
            group = i;
    }
    size_t kept = 0;
    for (size_t i = 0; i < d->n; i++) {
        if (first_line[i]) {
            char why[64];
            snprintf(why, sizeof why, "card is already listed on line %u", first_line[i]);
            d->bad_lines++;
            if (bad)
                bad(arg, d->v[i].line, why);
            continue;
        }
        d->v[kept++] = d->v[i];
    }
    if (kept < d->n)
        OPENSSL_cleanse(d->v + kept, (d->n - kept) * sizeof *d->v);
    d->n = kept;
    free(by_card);
    free(first_line);
    return 0;
}

static int append(struct buyt_drivers *d, const struct buyt_drivers_entry *e)
{
    if (d->n == d->cap) {
        /* Not realloc: the old block holds card numbers and is wiped before it is freed. */
        const size_t cap = d->cap ? 2 * d->cap : 64;
        struct buyt_drivers_entry *v = malloc(cap * sizeof *v);
        if (!v)
            return BUYT_ENOMEM;
        if (d->n) {
            memcpy(v, d->v, d->n * sizeof *v);
            OPENSSL_cleanse(d->v, d->n * sizeof *v);
        }
        free(d->v);
        d->v = v;
        d->cap = cap;
    }
    d->v[d->n++] = *e;
    return 0;
}

int buyt_drivers_parse(struct buyt_drivers **out, const char *text, size_t len,
                       const struct buyt_cardid_key *key, buyt_drivers_bad_line_cb bad, void *arg)
{
    if (!out)
        return BUYT_EINVAL;
    *out = NULL;
    if ((!text && len) || !key || key->len < BUYT_CARDID_KEY_MIN)
        return BUYT_EINVAL;
    if (len > BUYT_DRIVERS_FILE_MAX)
        return BUYT_ERANGE;
    struct buyt_drivers *d = calloc(1, sizeof *d);
    if (!d)
        return BUYT_ENOMEM;
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) { /* UTF-8 byte order mark */
        text += 3;
        len -= 3;
    }

    unsigned line = 0;
    size_t pos = 0;
    while (pos < len) {
        const char *s = text + pos;
        const char *nl = memchr(s, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - s) : len - pos;
        pos += n + (nl ? 1 : 0);
        line++;
        if (n > 0 && s[n - 1] == '\r')
            n--;

        struct buyt_drivers_entry e;
        int crypto_err = 0;
        const char *reason = parse_line(s, n, key, &e, &crypto_err);
        if (crypto_err) {
            buyt_drivers_free(d);
            return crypto_err;
        }
        if (reason && *reason) {
            d->bad_lines++;
            if (bad)
                bad(arg, line, reason);
        }
        e.line = line;
        const int err = reason ? 0 : append(d, &e);
        OPENSSL_cleanse(&e, sizeof e);
        if (err) {
            buyt_drivers_free(d);
            return err;
        }
    }
    if (drop_duplicates(d, bad, arg) != 0) {
        buyt_drivers_free(d);
        return BUYT_ENOMEM;
    }
    *out = d;
    return 0;
}

/* Reads at most BUYT_DRIVERS_FILE_MAX + 1 bytes of `path` into a new buffer. */
static int read_file(const char *path, char **buf, size_t *len)
{
    const int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    const size_t cap = BUYT_DRIVERS_FILE_MAX + 1;
    char *b = malloc(cap);
    if (!b) {
        close(fd);
        return BUYT_ENOMEM;
    }
    size_t n = 0;
    while (n < cap) {
        const ssize_t r = read(fd, b + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            const int err = -errno;
            free(b);
            close(fd);
            return err;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    if (n > BUYT_DRIVERS_FILE_MAX) {
        free(b);
        return BUYT_ERANGE;
    }
    *buf = b;
    *len = n;
    return 0;
}

int buyt_drivers_load(struct buyt_drivers **out, const char *path,
                      const struct buyt_cardid_key *key, buyt_drivers_bad_line_cb bad, void *arg)
{
    if (!out || !path)
        return BUYT_EINVAL;
    *out = NULL;
    char *text = NULL;
    size_t len = 0;
    int err = read_file(path, &text, &len);
    if (err)
        return err;
    err = buyt_drivers_parse(out, text, len, key, bad, arg);
    OPENSSL_cleanse(text, len); /* the file holds clear card numbers and UIDs */
    free(text);
    return err;
}

void buyt_drivers_free(struct buyt_drivers *d)
{
    if (!d)
        return;
    if (d->v)
        OPENSSL_cleanse(d->v, d->n * sizeof *d->v);
    free(d->v);
    free(d);
}

size_t buyt_drivers_count(const struct buyt_drivers *d)
{
    return d ? d->n : 0;
}

unsigned buyt_drivers_bad_lines(const struct buyt_drivers *d)
{
    return d ? d->bad_lines : 0;
}

const struct buyt_drivers_entry *buyt_drivers_find(const struct buyt_drivers *d,
                                                   const struct buyt_rfid_card *card,
                                                   const uint8_t card_id[BUYT_CARDID_BYTES])
{
    if (!d)
        return NULL;
    for (size_t i = 0; i < d->n; i++) {
        const struct buyt_drivers_entry *e = &d->v[i];
        if (e->by_number ? card->has_number && card->number == e->number
                         : memcmp(e->card_id, card_id, BUYT_CARDID_BYTES) == 0)
            return e;
    }
    return NULL;
}

void buyt_drivers_state_init(struct buyt_drivers_state *st)
{
    memset(st, 0, sizeof *st);
}

static void event_set(struct buyt_drivers_event *ev, enum buyt_drivers_event_kind kind,
                      const char *driver_id, const uint8_t card_id[BUYT_CARDID_BYTES])
{
    memset(ev, 0, sizeof *ev);
    ev->kind = kind;
    snprintf(ev->driver_id, sizeof ev->driver_id, "%s", driver_id);
    memcpy(ev->card_id, card_id, BUYT_CARDID_BYTES);
}

int buyt_drivers_sign_out(struct buyt_drivers_state *st, struct buyt_drivers_event *ev)
{
    if (!st->signed_in)
        return 0;
    event_set(ev, BUYT_DRIVERS_SIGN_OUT, st->driver_id, st->card_id);
    buyt_drivers_state_init(st);
    return 1;
}

int buyt_drivers_tap(const struct buyt_drivers *d, struct buyt_drivers_state *st,
                     const struct buyt_rfid_card *card, const uint8_t card_id[BUYT_CARDID_BYTES],
                     struct buyt_drivers_event ev[2])
{
    const struct buyt_drivers_entry *e = buyt_drivers_find(d, card, card_id);
    if (!e) {
        event_set(&ev[0], BUYT_DRIVERS_UNKNOWN_CARD, "", card_id);
        return 1;
    }
    if (st->signed_in && strcmp(st->driver_id, e->driver_id) == 0)
        return buyt_drivers_sign_out(st, &ev[0]);
    const int n = buyt_drivers_sign_out(st, &ev[0]); /* hand-over: the previous driver leaves */
    event_set(&ev[n], BUYT_DRIVERS_SIGN_IN, e->driver_id, card_id);
    st->signed_in = true;
    snprintf(st->driver_id, sizeof st->driver_id, "%s", e->driver_id);
    memcpy(st->card_id, card_id, BUYT_CARDID_BYTES);
    return n + 1;
}
