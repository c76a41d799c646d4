/* Vietnamese place names for the synthetic city: real Hà Nội street, terminal and landmark
 * names (UTF-8, with diacritics), combined into stop names the way Hanoi's stops are named
 * ("Số 115 Nguyễn Trãi", "Ngã tư Cầu Giấy - Xuân Thủy", "Chợ Mơ", "Bến xe Giáp Bát"). */
#ifndef BUYT_SIM_NAMES_H
#define BUYT_SIM_NAMES_H

#include <stddef.h>
#include <stdint.h>

/** Street name number `i` (any i >= 0: past the list, names repeat with a district suffix).
 *  Writes into buf (NUL-terminated, truncated to len). */
void buyt_names_street(unsigned i, char *buf, size_t len);

/** Terminal name number `i` ("Bến xe Giáp Bát", ...; past the list "Điểm đầu cuối N"). */
void buyt_names_terminal(unsigned i, char *buf, size_t len);

/** A landmark name picked by `h` (a hash): "Chợ Hôm", "Trường Đại học Bách khoa",
 *  "Bệnh viện Bạch Mai", "Hồ Hoàn Kiếm", ... */
void buyt_names_landmark(uint64_t h, char *buf, size_t len);

/** True if `s` holds a byte >= 0x80 that is part of a Vietnamese letter with a diacritic
 *  (any non-ASCII UTF-8 here). For tests. */
int buyt_names_has_diacritics(const char *s);

#endif
