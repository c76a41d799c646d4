/* RFID reader output: the RDM6300 frame an EM4100 card produces (docs/RFID.md):
 * STX 0x02, V ID3 ID2 ID1 ID0 as 10 upper-case hex digits, their XOR as 2 hex digits, ETX 0x03.
 * The module repeats it every 60-100 ms while the card is held; the agent debounces. */
#ifndef BUYT_SIM_RFID_OUT_H
#define BUYT_SIM_RFID_OUT_H

#include <stddef.h>
#include <stdint.h>

#define BUYT_RFID_OUT_RDM6300_BYTES 14

/** Writes the RDM6300 frame of the 5-byte EM4100 `uid` into out. */
void buyt_rfid_out_rdm6300(const uint8_t uid[5], uint8_t out[BUYT_RFID_OUT_RDM6300_BYTES]);

#endif
