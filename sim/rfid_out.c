/* RDM6300 framing; see rfid_out.h. */
#include "rfid_out.h"

void buyt_rfid_out_rdm6300(const uint8_t uid[5], uint8_t out[BUYT_RFID_OUT_RDM6300_BYTES])
{
    static const char hex[] = "0123456789ABCDEF";
    uint8_t x = 0;
    out[0] = 0x02;
    for (int i = 0; i < 5; i++) {
        out[1 + 2 * i] = (uint8_t)hex[uid[i] >> 4];
        out[2 + 2 * i] = (uint8_t)hex[uid[i] & 15];
        x ^= uid[i];
    }
    out[11] = (uint8_t)hex[x >> 4];
    out[12] = (uint8_t)hex[x & 15];
    out[13] = 0x03;
}
