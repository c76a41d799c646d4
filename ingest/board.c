/* Stop boards: building from the schedule and the predictor, the publishing rule, and the
 * fixed-width text of LED signs (UTF-8 display width, Vietnamese diacritic folding). */
#include "board.h"

#include "clock.h"
#include "error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NONE BUYT_NETWORK_NONE
#define MARKS_MAX 2 /* combining marks kept per character: Vietnamese needs 2 (e + ^ + tone) */

/* ---- UTF-8 ------------------------------------------------------------------------------- */

size_t buyt_utf8_decode(const char *s, size_t len, uint32_t *cp)
{
    /* Well-formed sequences: The Unicode Standard, chapter 3, table 3-7. */
    const unsigned char *u = (const unsigned char *)s;
    *cp = 0xFFFD;
    if (len == 0)
        return 0;
    unsigned c = u[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t n;
    uint32_t v;
    unsigned lo = 0x80, hi = 0xBF; /* range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        v = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        v = c & 0x0F;
        if (c == 0xE0)
            lo = 0xA0; /* no overlong */
        if (c == 0xED)
            hi = 0x9F; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        v = c & 0x07;
        if (c == 0xF0)
            lo = 0x90;
        if (c == 0xF4)
            hi = 0x8F; /* <= U+10FFFF */
    } else {
        return 1;
    }
    if (len < n)
        return 1;
    for (size_t i = 1; i < n; i++) {
        unsigned b = u[i];
        if (i == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF))
            return 1;
        v = (v << 6) | (b & 0x3F);
    }
    *cp = v;
    return n;
}

struct range {
    uint32_t lo, hi;
};

static bool in_ranges(const struct range *r, size_t n, uint32_t cp)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < r[mid].lo)
            hi = mid;
        else if (cp > r[mid].hi)
            lo = mid + 1;
        else
            return true;
    }
    return false;
}

/* Combining marks and zero-width characters (Unicode general categories Mn/Me, Cf), the
 * scripts a Hanoi sign may meet. */
static const struct range zero_width[] = {
    {0x0300, 0x036F}, {0x0483, 0x0489}, {0x0591, 0x05BD},   {0x05BF, 0x05BF}, {0x05C1, 0x05C2},
    {0x05C4, 0x05C5}, {0x05C7, 0x05C7}, {0x0610, 0x061A},   {0x064B, 0x065F}, {0x0670, 0x0670},
    {0x0E31, 0x0E31}, {0x0E34, 0x0E3A}, {0x0E47, 0x0E4E},   {0x0EB1, 0x0EB1}, {0x0EB4, 0x0EBC},
    {0x0EC8, 0x0ECD}, {0x1AB0, 0x1AFF}, {0x1DC0, 0x1DFF},   {0x200B, 0x200F}, {0x202A, 0x202E},
    {0x2060, 0x2064}, {0x20D0, 0x20FF}, {0x302A, 0x302F},   {0x3099, 0x309A}, {0xFE00, 0xFE0F},
    {0xFE20, 0xFE2F}, {0xFEFF, 0xFEFF}, {0xE0100, 0xE01EF},
};

/* East Asian Wide (W) and Fullwidth (F) (UAX #11), coarse ranges. */
static const struct range wide[] = {
    {0x1100, 0x115F},   {0x231A, 0x231B},   {0x2329, 0x232A},   {0x23E9, 0x23EC},
    {0x2614, 0x2615},   {0x2E80, 0x303E},   {0x3041, 0x33FF},   {0x3400, 0x4DBF},
    {0x4E00, 0x9FFF},   {0xA000, 0xA4CF},   {0xA960, 0xA97F},   {0xAC00, 0xD7A3},
    {0xF900, 0xFAFF},   {0xFE10, 0xFE19},   {0xFE30, 0xFE6F},   {0xFF00, 0xFF60},
    {0xFFE0, 0xFFE6},   {0x1F300, 0x1F64F}, {0x1F900, 0x1F9FF}, {0x20000, 0x2FFFD},
    {0x30000, 0x3FFFD},
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static bool is_control(uint32_t cp)
{
    return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F);
}

int buyt_utf8_cp_width(uint32_t cp)
{
    if (is_control(cp) || in_ranges(zero_width, COUNT(zero_width), cp))
        return 0;
    return in_ranges(wide, COUNT(wide), cp) ? 2 : 1;
}

size_t buyt_utf8_width(const char *s)
{
    size_t len = strlen(s), w = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        i += buyt_utf8_decode(s + i, len - i, &cp);
        w += (size_t)buyt_utf8_cp_width(cp);
    }
    return w;
}

/* ---- folding to ASCII -------------------------------------------------------------------- */

struct fold {
    uint32_t cp;
    const char *ascii;
};

/* Generated once from the Unicode 14 NFKD decompositions (Python's unicodedata) of U+00A0 ..
 * U+024F and U+1E00 .. U+1EFF with the combining marks removed, kept where the rest is ASCII;
 * plus the letters that have no decomposition (Đ đ, Æ, Ø, Œ, ß, Þ, Ł, ...) and common
 * punctuation (dashes, quotes, ellipsis). Every Vietnamese letter with every tone is here:
 * U+00C0.., U+0102/3 Ă ă, U+0110/1 Đ đ, U+0128/9 Ĩ ĩ, U+0168/9 Ũ ũ, U+01A0/1 Ơ ơ, U+01AF/B0
 * Ư ư, U+1EA0..U+1EF9 (tests/unit/test_board.c checks the whole alphabet). */
static const struct fold fold_table[] = {
    {0x00A0, " "},  {0x00A8, " "},  {0x00AA, "a"},   {0x00AB, "<<"}, {0x00AF, " "},  {0x00B2, "2"},
    {0x00B3, "3"},  {0x00B4, " "},  {0x00B7, "."},   {0x00B8, " "},  {0x00B9, "1"},  {0x00BA, "o"},
    {0x00BB, ">>"}, {0x00C0, "A"},  {0x00C1, "A"},   {0x00C2, "A"},  {0x00C3, "A"},  {0x00C4, "A"},
    {0x00C5, "A"},  {0x00C6, "AE"}, {0x00C7, "C"},   {0x00C8, "E"},  {0x00C9, "E"},  {0x00CA, "E"},
    {0x00CB, "E"},  {0x00CC, "I"},  {0x00CD, "I"},   {0x00CE, "I"},  {0x00CF, "I"},  {0x00D0, "D"},
    {0x00D1, "N"},  {0x00D2, "O"},  {0x00D3, "O"},   {0x00D4, "O"},  {0x00D5, "O"},  {0x00D6, "O"},
    {0x00D7, "x"},  {0x00D8, "O"},  {0x00D9, "U"},   {0x00DA, "U"},  {0x00DB, "U"},  {0x00DC, "U"},
    {0x00DD, "Y"},  {0x00DE, "TH"}, {0x00DF, "ss"},  {0x00E0, "a"},  {0x00E1, "a"},  {0x00E2, "a"},
    {0x00E3, "a"},  {0x00E4, "a"},  {0x00E5, "a"},   {0x00E6, "ae"}, {0x00E7, "c"},  {0x00E8, "e"},
    {0x00E9, "e"},  {0x00EA, "e"},  {0x00EB, "e"},   {0x00EC, "i"},  {0x00ED, "i"},  {0x00EE, "i"},
    {0x00EF, "i"},  {0x00F0, "d"},  {0x00F1, "n"},   {0x00F2, "o"},  {0x00F3, "o"},  {0x00F4, "o"},
    {0x00F5, "o"},  {0x00F6, "o"},  {0x00F8, "o"},   {0x00F9, "u"},  {0x00FA, "u"},  {0x00FB, "u"},
    {0x00FC, "u"},  {0x00FD, "y"},  {0x00FE, "th"},  {0x00FF, "y"},  {0x0100, "A"},  {0x0101, "a"},
    {0x0102, "A"},  {0x0103, "a"},  {0x0104, "A"},   {0x0105, "a"},  {0x0106, "C"},  {0x0107, "c"},
    {0x0108, "C"},  {0x0109, "c"},  {0x010A, "C"},   {0x010B, "c"},  {0x010C, "C"},  {0x010D, "c"},
    {0x010E, "D"},  {0x010F, "d"},  {0x0110, "D"},   {0x0111, "d"},  {0x0112, "E"},  {0x0113, "e"},
    {0x0114, "E"},  {0x0115, "e"},  {0x0116, "E"},   {0x0117, "e"},  {0x0118, "E"},  {0x0119, "e"},
    {0x011A, "E"},  {0x011B, "e"},  {0x011C, "G"},   {0x011D, "g"},  {0x011E, "G"},  {0x011F, "g"},
    {0x0120, "G"},  {0x0121, "g"},  {0x0122, "G"},   {0x0123, "g"},  {0x0124, "H"},  {0x0125, "h"},
    {0x0126, "H"},  {0x0127, "h"},  {0x0128, "I"},   {0x0129, "i"},  {0x012A, "I"},  {0x012B, "i"},
    {0x012C, "I"},  {0x012D, "i"},  {0x012E, "I"},   {0x012F, "i"},  {0x0130, "I"},  {0x0131, "i"},
    {0x0132, "IJ"}, {0x0133, "ij"}, {0x0134, "J"},   {0x0135, "j"},  {0x0136, "K"},  {0x0137, "k"},
    {0x0138, "k"},  {0x0139, "L"},  {0x013A, "l"},   {0x013B, "L"},  {0x013C, "l"},  {0x013D, "L"},
    {0x013E, "l"},  {0x0141, "L"},  {0x0142, "l"},   {0x0143, "N"},  {0x0144, "n"},  {0x0145, "N"},
    {0x0146, "n"},  {0x0147, "N"},  {0x0148, "n"},   {0x014A, "N"},  {0x014B, "n"},  {0x014C, "O"},
    {0x014D, "o"},  {0x014E, "O"},  {0x014F, "o"},   {0x0150, "O"},  {0x0151, "o"},  {0x0152, "OE"},
    {0x0153, "oe"}, {0x0154, "R"},  {0x0155, "r"},   {0x0156, "R"},  {0x0157, "r"},  {0x0158, "R"},
    {0x0159, "r"},  {0x015A, "S"},  {0x015B, "s"},   {0x015C, "S"},  {0x015D, "s"},  {0x015E, "S"},
    {0x015F, "s"},  {0x0160, "S"},  {0x0161, "s"},   {0x0162, "T"},  {0x0163, "t"},  {0x0164, "T"},
    {0x0165, "t"},  {0x0166, "T"},  {0x0167, "t"},   {0x0168, "U"},  {0x0169, "u"},  {0x016A, "U"},
    {0x016B, "u"},  {0x016C, "U"},  {0x016D, "u"},   {0x016E, "U"},  {0x016F, "u"},  {0x0170, "U"},
    {0x0171, "u"},  {0x0172, "U"},  {0x0173, "u"},   {0x0174, "W"},  {0x0175, "w"},  {0x0176, "Y"},
    {0x0177, "y"},  {0x0178, "Y"},  {0x0179, "Z"},   {0x017A, "z"},  {0x017B, "Z"},  {0x017C, "z"},
    {0x017D, "Z"},  {0x017E, "z"},  {0x017F, "s"},   {0x0180, "b"},  {0x0181, "B"},  {0x0187, "C"},
    {0x0188, "c"},  {0x0189, "D"},  {0x018A, "D"},   {0x0191, "F"},  {0x0192, "f"},  {0x0193, "G"},
    {0x0197, "I"},  {0x0198, "K"},  {0x0199, "k"},   {0x019A, "l"},  {0x019D, "N"},  {0x019E, "n"},
    {0x01A0, "O"},  {0x01A1, "o"},  {0x01A4, "P"},   {0x01A5, "p"},  {0x01AB, "t"},  {0x01AC, "T"},
    {0x01AD, "t"},  {0x01AE, "T"},  {0x01AF, "U"},   {0x01B0, "u"},  {0x01B2, "V"},  {0x01B3, "Y"},
    {0x01B4, "y"},  {0x01B5, "Z"},  {0x01B6, "z"},   {0x01C4, "DZ"}, {0x01C5, "Dz"}, {0x01C6, "dz"},
    {0x01C7, "LJ"}, {0x01C8, "Lj"}, {0x01C9, "lj"},  {0x01CA, "NJ"}, {0x01CB, "Nj"}, {0x01CC, "nj"},
    {0x01CD, "A"},  {0x01CE, "a"},  {0x01CF, "I"},   {0x01D0, "i"},  {0x01D1, "O"},  {0x01D2, "o"},
    {0x01D3, "U"},  {0x01D4, "u"},  {0x01D5, "U"},   {0x01D6, "u"},  {0x01D7, "U"},  {0x01D8, "u"},
    {0x01D9, "U"},  {0x01DA, "u"},  {0x01DB, "U"},   {0x01DC, "u"},  {0x01DE, "A"},  {0x01DF, "a"},
    {0x01E0, "A"},  {0x01E1, "a"},  {0x01E4, "G"},   {0x01E5, "g"},  {0x01E6, "G"},  {0x01E7, "g"},
    {0x01E8, "K"},  {0x01E9, "k"},  {0x01EA, "O"},   {0x01EB, "o"},  {0x01EC, "O"},  {0x01ED, "o"},
    {0x01F0, "j"},  {0x01F1, "DZ"}, {0x01F2, "Dz"},  {0x01F3, "dz"}, {0x01F4, "G"},  {0x01F5, "g"},
    {0x01F8, "N"},  {0x01F9, "n"},  {0x01FA, "A"},   {0x01FB, "a"},  {0x0200, "A"},  {0x0201, "a"},
    {0x0202, "A"},  {0x0203, "a"},  {0x0204, "E"},   {0x0205, "e"},  {0x0206, "E"},  {0x0207, "e"},
    {0x0208, "I"},  {0x0209, "i"},  {0x020A, "I"},   {0x020B, "i"},  {0x020C, "O"},  {0x020D, "o"},
    {0x020E, "O"},  {0x020F, "o"},  {0x0210, "R"},   {0x0211, "r"},  {0x0212, "R"},  {0x0213, "r"},
    {0x0214, "U"},  {0x0215, "u"},  {0x0216, "U"},   {0x0217, "u"},  {0x0218, "S"},  {0x0219, "s"},
    {0x021A, "T"},  {0x021B, "t"},  {0x021E, "H"},   {0x021F, "h"},  {0x0226, "A"},  {0x0227, "a"},
    {0x0228, "E"},  {0x0229, "e"},  {0x022A, "O"},   {0x022B, "o"},  {0x022C, "O"},  {0x022D, "o"},
    {0x022E, "O"},  {0x022F, "o"},  {0x0230, "O"},   {0x0231, "o"},  {0x0232, "Y"},  {0x0233, "y"},
    {0x023A, "A"},  {0x023B, "C"},  {0x023C, "c"},   {0x023D, "L"},  {0x023E, "T"},  {0x0243, "B"},
    {0x0246, "E"},  {0x0247, "e"},  {0x0248, "J"},   {0x0249, "j"},  {0x024C, "R"},  {0x024D, "r"},
    {0x024E, "Y"},  {0x024F, "y"},  {0x1E00, "A"},   {0x1E01, "a"},  {0x1E02, "B"},  {0x1E03, "b"},
    {0x1E04, "B"},  {0x1E05, "b"},  {0x1E06, "B"},   {0x1E07, "b"},  {0x1E08, "C"},  {0x1E09, "c"},
    {0x1E0A, "D"},  {0x1E0B, "d"},  {0x1E0C, "D"},   {0x1E0D, "d"},  {0x1E0E, "D"},  {0x1E0F, "d"},
    {0x1E10, "D"},  {0x1E11, "d"},  {0x1E12, "D"},   {0x1E13, "d"},  {0x1E14, "E"},  {0x1E15, "e"},
    {0x1E16, "E"},  {0x1E17, "e"},  {0x1E18, "E"},   {0x1E19, "e"},  {0x1E1A, "E"},  {0x1E1B, "e"},
    {0x1E1C, "E"},  {0x1E1D, "e"},  {0x1E1E, "F"},   {0x1E1F, "f"},  {0x1E20, "G"},  {0x1E21, "g"},
    {0x1E22, "H"},  {0x1E23, "h"},  {0x1E24, "H"},   {0x1E25, "h"},  {0x1E26, "H"},  {0x1E27, "h"},
    {0x1E28, "H"},  {0x1E29, "h"},  {0x1E2A, "H"},   {0x1E2B, "h"},  {0x1E2C, "I"},  {0x1E2D, "i"},
    {0x1E2E, "I"},  {0x1E2F, "i"},  {0x1E30, "K"},   {0x1E31, "k"},  {0x1E32, "K"},  {0x1E33, "k"},
    {0x1E34, "K"},  {0x1E35, "k"},  {0x1E36, "L"},   {0x1E37, "l"},  {0x1E38, "L"},  {0x1E39, "l"},
    {0x1E3A, "L"},  {0x1E3B, "l"},  {0x1E3C, "L"},   {0x1E3D, "l"},  {0x1E3E, "M"},  {0x1E3F, "m"},
    {0x1E40, "M"},  {0x1E41, "m"},  {0x1E42, "M"},   {0x1E43, "m"},  {0x1E44, "N"},  {0x1E45, "n"},
    {0x1E46, "N"},  {0x1E47, "n"},  {0x1E48, "N"},   {0x1E49, "n"},  {0x1E4A, "N"},  {0x1E4B, "n"},
    {0x1E4C, "O"},  {0x1E4D, "o"},  {0x1E4E, "O"},   {0x1E4F, "o"},  {0x1E50, "O"},  {0x1E51, "o"},
    {0x1E52, "O"},  {0x1E53, "o"},  {0x1E54, "P"},   {0x1E55, "p"},  {0x1E56, "P"},  {0x1E57, "p"},
    {0x1E58, "R"},  {0x1E59, "r"},  {0x1E5A, "R"},   {0x1E5B, "r"},  {0x1E5C, "R"},  {0x1E5D, "r"},
    {0x1E5E, "R"},  {0x1E5F, "r"},  {0x1E60, "S"},   {0x1E61, "s"},  {0x1E62, "S"},  {0x1E63, "s"},
    {0x1E64, "S"},  {0x1E65, "s"},  {0x1E66, "S"},   {0x1E67, "s"},  {0x1E68, "S"},  {0x1E69, "s"},
    {0x1E6A, "T"},  {0x1E6B, "t"},  {0x1E6C, "T"},   {0x1E6D, "t"},  {0x1E6E, "T"},  {0x1E6F, "t"},
    {0x1E70, "T"},  {0x1E71, "t"},  {0x1E72, "U"},   {0x1E73, "u"},  {0x1E74, "U"},  {0x1E75, "u"},
    {0x1E76, "U"},  {0x1E77, "u"},  {0x1E78, "U"},   {0x1E79, "u"},  {0x1E7A, "U"},  {0x1E7B, "u"},
    {0x1E7C, "V"},  {0x1E7D, "v"},  {0x1E7E, "V"},   {0x1E7F, "v"},  {0x1E80, "W"},  {0x1E81, "w"},
    {0x1E82, "W"},  {0x1E83, "w"},  {0x1E84, "W"},   {0x1E85, "w"},  {0x1E86, "W"},  {0x1E87, "w"},
    {0x1E88, "W"},  {0x1E89, "w"},  {0x1E8A, "X"},   {0x1E8B, "x"},  {0x1E8C, "X"},  {0x1E8D, "x"},
    {0x1E8E, "Y"},  {0x1E8F, "y"},  {0x1E90, "Z"},   {0x1E91, "z"},  {0x1E92, "Z"},  {0x1E93, "z"},
    {0x1E94, "Z"},  {0x1E95, "z"},  {0x1E96, "h"},   {0x1E97, "t"},  {0x1E98, "w"},  {0x1E99, "y"},
    {0x1E9B, "s"},  {0x1EA0, "A"},  {0x1EA1, "a"},   {0x1EA2, "A"},  {0x1EA3, "a"},  {0x1EA4, "A"},
    {0x1EA5, "a"},  {0x1EA6, "A"},  {0x1EA7, "a"},   {0x1EA8, "A"},  {0x1EA9, "a"},  {0x1EAA, "A"},
    {0x1EAB, "a"},  {0x1EAC, "A"},  {0x1EAD, "a"},   {0x1EAE, "A"},  {0x1EAF, "a"},  {0x1EB0, "A"},
    {0x1EB1, "a"},  {0x1EB2, "A"},  {0x1EB3, "a"},   {0x1EB4, "A"},  {0x1EB5, "a"},  {0x1EB6, "A"},
    {0x1EB7, "a"},  {0x1EB8, "E"},  {0x1EB9, "e"},   {0x1EBA, "E"},  {0x1EBB, "e"},  {0x1EBC, "E"},
    {0x1EBD, "e"},  {0x1EBE, "E"},  {0x1EBF, "e"},   {0x1EC0, "E"},  {0x1EC1, "e"},  {0x1EC2, "E"},
    {0x1EC3, "e"},  {0x1EC4, "E"},  {0x1EC5, "e"},   {0x1EC6, "E"},  {0x1EC7, "e"},  {0x1EC8, "I"},
    {0x1EC9, "i"},  {0x1ECA, "I"},  {0x1ECB, "i"},   {0x1ECC, "O"},  {0x1ECD, "o"},  {0x1ECE, "O"},
    {0x1ECF, "o"},  {0x1ED0, "O"},  {0x1ED1, "o"},   {0x1ED2, "O"},  {0x1ED3, "o"},  {0x1ED4, "O"},
    {0x1ED5, "o"},  {0x1ED6, "O"},  {0x1ED7, "o"},   {0x1ED8, "O"},  {0x1ED9, "o"},  {0x1EDA, "O"},
    {0x1EDB, "o"},  {0x1EDC, "O"},  {0x1EDD, "o"},   {0x1EDE, "O"},  {0x1EDF, "o"},  {0x1EE0, "O"},
    {0x1EE1, "o"},  {0x1EE2, "O"},  {0x1EE3, "o"},   {0x1EE4, "U"},  {0x1EE5, "u"},  {0x1EE6, "U"},
    {0x1EE7, "u"},  {0x1EE8, "U"},  {0x1EE9, "u"},   {0x1EEA, "U"},  {0x1EEB, "u"},  {0x1EEC, "U"},
    {0x1EED, "u"},  {0x1EEE, "U"},  {0x1EEF, "u"},   {0x1EF0, "U"},  {0x1EF1, "u"},  {0x1EF2, "Y"},
    {0x1EF3, "y"},  {0x1EF4, "Y"},  {0x1EF5, "y"},   {0x1EF6, "Y"},  {0x1EF7, "y"},  {0x1EF8, "Y"},
    {0x1EF9, "y"},  {0x2010, "-"},  {0x2011, "-"},   {0x2012, "-"},  {0x2013, "-"},  {0x2014, "-"},
    {0x2015, "-"},  {0x2018, "'"},  {0x2019, "'"},   {0x201A, "'"},  {0x201C, "\""}, {0x201D, "\""},
    {0x201E, "\""}, {0x2022, "*"},  {0x2026, "..."}, {0x2039, "<"},  {0x203A, ">"},  {0x2116, "No"},
    {0x2190, "<-"}, {0x2192, "->"},
};

/* Every ASCII character as a NUL-terminated string: ascii_str + 2 * c. */
static const char ascii_str[] = "\0"
                                "\0"
                                "\x01"
                                "\0"
                                "\x02"
                                "\0"
                                "\x03"
                                "\0"
                                "\x04"
                                "\0"
                                "\x05"
                                "\0"
                                "\x06"
                                "\0"
                                "\x07"
                                "\0"
                                "\x08"
                                "\0"
                                "\x09"
                                "\0"
                                "\x0A"
                                "\0"
                                "\x0B"
                                "\0"
                                "\x0C"
                                "\0"
                                "\x0D"
                                "\0"
                                "\x0E"
                                "\0"
                                "\x0F"
                                "\0"
                                "\x10"
                                "\0"
                                "\x11"
                                "\0"
                                "\x12"
                                "\0"
                                "\x13"
                                "\0"
                                "\x14"
                                "\0"
                                "\x15"
                                "\0"
                                "\x16"
                                "\0"
                                "\x17"
                                "\0"
                                "\x18"
                                "\0"
                                "\x19"
                                "\0"
                                "\x1A"
                                "\0"
                                "\x1B"
                                "\0"
                                "\x1C"
                                "\0"
                                "\x1D"
                                "\0"
                                "\x1E"
                                "\0"
                                "\x1F"
                                "\0"
                                "\x20"
                                "\0"
                                "\x21"
                                "\0"
                                "\x22"
                                "\0"
                                "\x23"
                                "\0"
                                "\x24"
                                "\0"
                                "\x25"
                                "\0"
                                "\x26"
                                "\0"
                                "\x27"
                                "\0"
                                "\x28"
                                "\0"
                                "\x29"
                                "\0"
                                "\x2A"
                                "\0"
                                "\x2B"
                                "\0"
                                "\x2C"
                                "\0"
                                "\x2D"
                                "\0"
                                "\x2E"
                                "\0"
                                "\x2F"
                                "\0"
                                "\x30"
                                "\0"
                                "\x31"
                                "\0"
                                "\x32"
                                "\0"
                                "\x33"
                                "\0"
                                "\x34"
                                "\0"
                                "\x35"
                                "\0"
                                "\x36"
                                "\0"
                                "\x37"
                                "\0"
                                "\x38"
                                "\0"
                                "\x39"
                                "\0"
                                "\x3A"
                                "\0"
                                "\x3B"
                                "\0"
                                "\x3C"
                                "\0"
                                "\x3D"
                                "\0"
                                "\x3E"
                                "\0"
                                "\x3F"
                                "\0"
                                "\x40"
                                "\0"
                                "\x41"
                                "\0"
                                "\x42"
                                "\0"
                                "\x43"
                                "\0"
                                "\x44"
                                "\0"
                                "\x45"
                                "\0"
                                "\x46"
                                "\0"
                                "\x47"
                                "\0"
                                "\x48"
                                "\0"
                                "\x49"
                                "\0"
                                "\x4A"
                                "\0"
                                "\x4B"
                                "\0"
                                "\x4C"
                                "\0"
                                "\x4D"
                                "\0"
                                "\x4E"
                                "\0"
                                "\x4F"
                                "\0"
                                "\x50"
                                "\0"
                                "\x51"
                                "\0"
                                "\x52"
                                "\0"
                                "\x53"
                                "\0"
                                "\x54"
                                "\0"
                                "\x55"
                                "\0"
                                "\x56"
                                "\0"
                                "\x57"
                                "\0"
                                "\x58"
                                "\0"
                                "\x59"
                                "\0"
                                "\x5A"
                                "\0"
                                "\x5B"
                                "\0"
                                "\x5C"
                                "\0"
                                "\x5D"
                                "\0"
                                "\x5E"
                                "\0"
                                "\x5F"
                                "\0"
                                "\x60"
                                "\0"
                                "\x61"
                                "\0"
                                "\x62"
                                "\0"
                                "\x63"
                                "\0"
                                "\x64"
                                "\0"
                                "\x65"
                                "\0"
                                "\x66"
                                "\0"
                                "\x67"
                                "\0"
                                "\x68"
                                "\0"
                                "\x69"
                                "\0"
                                "\x6A"
                                "\0"
                                "\x6B"
                                "\0"
                                "\x6C"
                                "\0"
                                "\x6D"
                                "\0"
                                "\x6E"
                                "\0"
                                "\x6F"
                                "\0"
                                "\x70"
                                "\0"
                                "\x71"
                                "\0"
                                "\x72"
                                "\0"
                                "\x73"
                                "\0"
                                "\x74"
                                "\0"
                                "\x75"
                                "\0"
                                "\x76"
                                "\0"
                                "\x77"
                                "\0"
                                "\x78"
                                "\0"
                                "\x79"
                                "\0"
                                "\x7A"
                                "\0"
                                "\x7B"
                                "\0"
                                "\x7C"
                                "\0"
                                "\x7D"
                                "\0"
                                "\x7E"
                                "\0"
                                "\x7F"
                                "\0";

const char *buyt_fold_cp(uint32_t cp)
{
    if (cp < 0x80)
        return ascii_str + 2 * cp;
    if (in_ranges(zero_width, COUNT(zero_width), cp))
        return ""; /* combining marks (tones written decomposed) and zero-width characters */
    size_t lo = 0, hi = COUNT(fold_table);
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < fold_table[mid].cp)
            hi = mid;
        else if (cp > fold_table[mid].cp)
            lo = mid + 1;
        else
            return fold_table[mid].ascii;
    }
    return NULL;
}

size_t buyt_fold_ascii(const char *s, char *out, size_t cap)
{
    size_t len = strlen(s), n = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        i += buyt_utf8_decode(s + i, len - i, &cp);
        const char *f = buyt_fold_cp(cp);
        if (!f)
            f = "?";
        for (; *f; f++, n++)
            if (n + 1 < cap)
                out[n] = *f;
    }
    if (cap)
        out[n < cap ? n : cap - 1] = '\0';
    return n;
}

/* Appends bytes to out[*n] if they fit below cap (one byte kept for the NUL). */
static bool put(char *out, size_t cap, size_t *n, const char *b, size_t len)
{
    if (*n + len + 1 > cap)
        return false;
    memcpy(out + *n, b, len);
    *n += len;
    return true;
}

size_t buyt_utf8_fit(const char *s, uint32_t cells, bool right, bool ascii, char *out, size_t cap)
{
    if (!cap)
        return 0;
    size_t len = s ? strlen(s) : 0, n = 0;
    uint32_t used = 0, marks = 0;
    bool base = false; /* a character was kept: marks may follow it */
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t k = buyt_utf8_decode(s + i, len - i, &cp);
        const char *bytes = s + i;
        i += k;
        if (is_control(cp)) { /* tabs, newlines in a headsign: a space */
            cp = ' ';
            bytes = " ";
            k = 1;
        } else if (cp == 0xFFFD && !(k == 3 && (unsigned char)bytes[0] == 0xEF)) {
            bytes = "\xEF\xBF\xBD"; /* an invalid byte shows as the replacement character */
            k = 3;
        }
        if (ascii) {
            const char *f = buyt_fold_cp(cp);
            if (!f)
                f = "?";
            for (; *f && used < cells; f++, used++)
                put(out, cap, &n, f, 1);
            if (*f)
                break;
            continue;
        }
        int w = buyt_utf8_cp_width(cp);
        if (w == 0) {
            if (base && marks < MARKS_MAX && put(out, cap, &n, bytes, k))
                marks++;
            continue;
        }
        if (used + (uint32_t)w > cells)
            break; /* cut before a character that does not fit whole */
        if (!put(out, cap, &n, bytes, k))
            break;
        used += (uint32_t)w;
        base = true;
        marks = 0;
    }
    uint32_t pad = cells - used;
    if (n + pad + 1 > cap)
        pad = (uint32_t)(cap - 1 - n);
    if (right) {
        memmove(out + pad, out, n);
        memset(out, ' ', pad);
    } else {
        memset(out + n, ' ', pad);
    }
    n += pad;
    out[n] = '\0';
    return n;
}

/* ---- configuration ----------------------------------------------------------------------- */

void buyt_board_text_default(struct buyt_board_text *t)
{
    *t = (struct buyt_board_text){
        .width = 24,
        .rows = 4,
        .ascii = false,
        .header = true,
        .route_w = 4,
        .time_w = 6,
        .stale_s = 120,
        .now_label = "now",
        .min_label = "min",
        .cancel_label = "cancel",
        .empty_label = "No buses",
    };
}

void buyt_board_config_default(struct buyt_board_config *c)
{
    *c = (struct buyt_board_config){
        .horizon_s = 3600,
        .late_window_s = 2700,
        .max_arrivals = 8,
        .approaching_s = 60,
        .delayed_s = 300,
        .stale_s = 120,
        .republish_s = 30,
        .utc_offset_s = 7 * 3600,
    };
    buyt_board_text_default(&c->text);
}

int buyt_board_text_check(const struct buyt_board_text *t)
{
    if (t->width < 12 || t->width > BUYT_BOARD_WIDTH_MAX || t->rows < 1 ||
        t->rows > BUYT_BOARD_ROWS_MAX || t->route_w < 1 || t->time_w < 5 ||
        t->route_w + t->time_w + 3 > t->width || t->stale_s < 0 || !t->now_label || !t->min_label ||
        !t->cancel_label || !t->empty_label)
        return BUYT_EINVAL;
    return 0;
}

/* ---- text rendering ---------------------------------------------------------------------- */

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

static void clock_text(int64_t ms, int32_t utc_offset_s, char out[8])
{
    int64_t s = floor_div(ms, 1000) + utc_offset_s;
    int64_t day_s = s - floor_div(s, 86400) * 86400;
    snprintf(out, 8, "%02d:%02d", (int)(day_s / 3600), (int)(day_s / 60 % 60));
}

/* One rendered line into out: fields fitted and joined, exactly t->width cells. */
static size_t render_row(const struct buyt_board_text *t, const char *route, const char *head,
                         const char *time, char *out, size_t cap)
{
    size_t n = 0;
    uint32_t head_w = t->width - t->route_w - t->time_w - 2;
    n += buyt_utf8_fit(route, t->route_w, false, t->ascii, out + n, cap - n);
    n += buyt_utf8_fit(" ", 1, false, false, out + n, cap - n);
    n += buyt_utf8_fit(head, head_w, false, t->ascii, out + n, cap - n);
    n += buyt_utf8_fit(" ", 1, false, false, out + n, cap - n);
    n += buyt_utf8_fit(time, t->time_w, true, t->ascii, out + n, cap - n);
    return n;
}

size_t buyt_board_render(const Buyt__V1__StopBoard *b, const struct buyt_board_text *t,
                         int64_t now_ms, int32_t utc_offset_s, char *out, size_t cap)
{
    if (buyt_board_text_check(t) || cap < (size_t)t->rows * (t->width * 12 + 2) + 1)
        return 0;
    size_t n = 0;
    uint32_t row = 0;
    bool stale = now_ms - (int64_t)b->generated_ms > (int64_t)t->stale_s * 1000;
    if (t->header) {
        char clock[8];
        clock_text(now_ms, utc_offset_s, clock);
        n += buyt_utf8_fit(b->stop_name ? b->stop_name : "", t->width - 6, false, t->ascii, out + n,
                           cap - n);
        n += buyt_utf8_fit(clock, 6, true, false, out + n, cap - n);
        out[n++] = '\n';
        row++;
    }
    uint32_t shown = 0;
    for (size_t i = 0; i < b->n_arrivals && row < t->rows; i++) {
        const Buyt__V1__Arrival *a = b->arrivals[i];
        bool cancelled = a->status == BUYT__V1__ARRIVAL_STATUS__ARRIVAL_STATUS_CANCELLED;
        bool live = a->realtime && !stale && !cancelled;
        int64_t at = stale ? (int64_t)a->scheduled_ms : (int64_t)a->eta_ms;
        char time[48];
        if (cancelled) {
            if ((int64_t)a->scheduled_ms + 60000 < now_ms)
                continue;
            snprintf(time, sizeof time, "%s", t->cancel_label);
        } else if (live) {
            bool at_stop = a->status == BUYT__V1__ARRIVAL_STATUS__ARRIVAL_STATUS_AT_STOP;
            if (!at_stop && at + 60000 < now_ms)
                continue; /* gone: the next board will not list it */
            int64_t m = floor_div(at - now_ms, 60000);
            if (at_stop || m <= 0)
                snprintf(time, sizeof time, "%s", t->now_label);
            else
                snprintf(time, sizeof time, "%lld %s", (long long)m, t->min_label);
        } else {
            if (at + 60000 < now_ms)
                continue;
            clock_text(at, utc_offset_s, time);
        }
        n += render_row(t, a->route_short_name ? a->route_short_name : "",
                        a->headsign ? a->headsign : "", time, out + n, cap - n);
        out[n++] = '\n';
        row++;
        shown++;
    }
    if (!shown && row < t->rows) {
        n += buyt_utf8_fit(t->empty_label, t->width, false, t->ascii, out + n, cap - n);
        out[n++] = '\n';
        row++;
    }
    for (; row < t->rows; row++) {
        n += buyt_utf8_fit("", t->width, false, false, out + n, cap - n);
        out[n++] = '\n';
    }
    out[n] = '\0';
    return n;
}

/* ---- boards ------------------------------------------------------------------------------ */

#define BOARD_RECHECK_MS 10000 /* the sweep rebuilds every board at least this often */

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

/* A trip calling at a stop: 12 bytes, its time kept so that finding and scanning a stop's
 * window touches nothing else. */
struct visit {
    uint32_t trip, k;
    int32_t t_s; /* scheduled time, seconds after the boards' base_ms */
};

struct buyt_boards {
    struct buyt_board_config cfg;
    const struct buyt_network *net;
    uint32_t *visit_first; /* per stop: its visits are visits[visit_first[s] .. [s + 1]) */
    struct visit *visits;  /* by scheduled time within a stop */
    int64_t base_ms;       /* the earliest service day's start */
    int64_t *last_pub_ms;  /* per stop; 0 never */
    uint64_t *last_content;
    uint64_t *dirty_ns;    /* per stop: monotonic time of the oldest unpublished change, 0 none */
    int64_t *built_ms;     /* per stop: `now` of its last build by the sweep or a flush */
    int64_t *due_ms;       /* per stop: when the clock alone may next change what it shows */
    uint32_t *dirty;       /* the stops with dirty_ns set, n_dirty of them */
    uint32_t n_dirty;
    struct buyt_hist latency; /* change received -> board handed to the broker */
    struct buyt_board scratch;
    uint8_t *buf;
    size_t buf_cap;
    struct buyt_board_counters ctr;
};

int buyt_boards_new(const struct buyt_board_config *cfg, struct buyt_boards **out)
{
    *out = NULL;
    struct buyt_board_config c;
    if (cfg)
        c = *cfg;
    else
        buyt_board_config_default(&c);
    if (buyt_board_text_check(&c.text) || c.horizon_s <= 0 || c.late_window_s < 0 ||
        c.max_arrivals < 1 || c.max_arrivals > BUYT_BOARD_MAX || c.approaching_s < 0 ||
        c.delayed_s < 0 || c.stale_s <= 0 || c.republish_s <= 0)
        return BUYT_EINVAL;
    struct buyt_boards *b = calloc(1, sizeof *b);
    if (!b)
        return BUYT_ENOMEM;
    b->cfg = c;
    b->buf_cap = 64 * 1024;
    b->buf = malloc(b->buf_cap);
    if (!b->buf) {
        free(b);
        return BUYT_ENOMEM;
    }
    *out = b;
    return 0;
}

static void unbind(struct buyt_boards *b)
{
    free(b->visit_first);
    free(b->visits);
    free(b->last_pub_ms);
    free(b->last_content);
    free(b->dirty_ns);
    free(b->dirty);
    free(b->built_ms);
    free(b->due_ms);
    b->built_ms = NULL;
    b->due_ms = NULL;
    b->dirty_ns = NULL;
    b->dirty = NULL;
    b->n_dirty = 0;
    b->visit_first = NULL;
    b->visits = NULL;
    b->last_pub_ms = NULL;
    b->last_content = NULL;
    b->net = NULL;
}

void buyt_boards_free(struct buyt_boards *b)
{
    if (!b)
        return;
    unbind(b);
    free(b->buf);
    free(b);
}

/* Scheduled time of stop k of a trip: departure at its first stop, arrival elsewhere. */
static int64_t sched_ms(const struct buyt_network *net, uint32_t trip, uint32_t k)
{
    const struct buyt_network_trip *t = &net->trips[trip];
    const struct buyt_network_time *tm = &net->times[t->first_time + k];
    return t->day_start_ms + (int64_t)(k == 0 ? tm->departure_s : tm->arrival_s) * 1000;
}

static int visit_cmp(const void *a, const void *b)
{
    const struct visit *x = a, *y = b;
    if (x->t_s != y->t_s)
        return x->t_s < y->t_s ? -1 : 1;
    return x->trip < y->trip ? -1 : x->trip > y->trip;
}

void buyt_boards_set_utc_offset(struct buyt_boards *b, int32_t utc_offset_s)
{
    if (b->cfg.utc_offset_s == utc_offset_s)
        return;
    b->cfg.utc_offset_s = utc_offset_s;
    /* Every sign showing a clock time changes: all boards are due at the next sweep. */
    if (b->due_ms && b->net)
        for (uint32_t s = 0; s < b->net->n_stops; s++)
            b->due_ms[s] = 0;
}

int32_t buyt_boards_utc_offset(const struct buyt_boards *b) { return b->cfg.utc_offset_s; }

int buyt_boards_set_network(struct buyt_boards *b, const struct buyt_network *net)
{
    unbind(b);
    if (!net)
        return 0;
    size_t ns = net->n_stops, total = 0;
    b->visit_first = calloc(ns + 1, sizeof *b->visit_first);
    b->last_pub_ms = calloc(ns ? ns : 1, sizeof *b->last_pub_ms);
    b->last_content = calloc(ns ? ns : 1, sizeof *b->last_content);
    b->dirty_ns = calloc(ns ? ns : 1, sizeof *b->dirty_ns);
    b->dirty = malloc((ns ? ns : 1) * sizeof *b->dirty);
    b->built_ms = calloc(ns ? ns : 1, sizeof *b->built_ms);
    b->due_ms = calloc(ns ? ns : 1, sizeof *b->due_ms);
    if (!b->visit_first || !b->last_pub_ms || !b->last_content || !b->dirty_ns || !b->dirty ||
        !b->built_ms || !b->due_ms)
        goto nomem;
    b->base_ms = INT64_MAX;
    for (uint32_t t = 0; t < net->n_trips; t++)
        if (net->trips[t].day_start_ms < b->base_ms)
            b->base_ms = net->trips[t].day_start_ms;
    if (b->base_ms == INT64_MAX)
        b->base_ms = 0;
    for (uint32_t t = 0; t < net->n_trips; t++) {
        const struct buyt_network_trip *tr = &net->trips[t];
        if (!tr->valid)
            continue;
        for (uint32_t k = 0; k + 1 < tr->n_stops; k++) /* never the last stop */
            b->visit_first[buyt_network_trip_stop(net, t, k) + 1]++;
        total += tr->n_stops - 1;
    }
    for (size_t s = 0; s < ns; s++)
        b->visit_first[s + 1] += b->visit_first[s];
    b->visits = malloc((total ? total : 1) * sizeof *b->visits);
    uint32_t *fill = malloc((ns ? ns : 1) * sizeof *fill);
    if (!b->visits || !fill) {
        free(fill);
        goto nomem;
    }
    memcpy(fill, b->visit_first, ns * sizeof *fill);
    for (uint32_t t = 0; t < net->n_trips; t++) {
        const struct buyt_network_trip *tr = &net->trips[t];
        if (!tr->valid)
            continue;
        for (uint32_t k = 0; k + 1 < tr->n_stops; k++)
            b->visits[fill[buyt_network_trip_stop(net, t, k)]++] =
                (struct visit){t, k, (int32_t)((sched_ms(net, t, k) - b->base_ms) / 1000)};
    }
    free(fill);
    for (size_t s = 0; s < ns; s++)
        qsort(b->visits + b->visit_first[s], b->visit_first[s + 1] - b->visit_first[s],
              sizeof *b->visits, visit_cmp);
    b->net = net;
    return 0;
nomem:
    unbind(b);
    return BUYT_ENOMEM;
}

static char *str(const char *s)
{
    return (char *)(uintptr_t)(s ? s : "");
}

/* First visit of stop s scheduled at or after t. */
static uint32_t visit_lower(const struct buyt_boards *b, uint32_t s, int64_t t)
{
    uint32_t lo = b->visit_first[s], hi = b->visit_first[s + 1];
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (b->base_ms + (int64_t)b->visits[mid].t_s * 1000 < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

struct cand {
    int64_t eta_ms, sched_ms;
    uint32_t trip;
    int status;
    bool realtime;
    const char *vehicle;
};

static int cand_cmp(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    if (x->eta_ms != y->eta_ms)
        return x->eta_ms < y->eta_ms ? -1 : 1;
    return x->trip < y->trip ? -1 : x->trip > y->trip;
}

#define CAND_MAX BUYT_BOARD_MAX
#define VISITS_MAX 4096 /* visits of one stop scanned per build at most */

/* What a rider sees of the arrivals, hashed: a multiply-xorshift step per 64-bit value. */
static uint64_t mix(uint64_t h, uint64_t v)
{
    h = (h ^ v) * 0x9E3779B97F4A7C15ull;
    return h ^ (h >> 29);
}

static uint64_t mix_str(uint64_t h, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i += 8) {
        uint64_t w = 0;
        memcpy(&w, s + i, len - i < 8 ? len - i : 8);
        h = mix(h, w);
    }
    return mix(h, len);
}

/* The text lines of a built board, rendered at its generation time. */
static void board_text(const struct buyt_board_config *c, struct buyt_board *out)
{
    size_t len = buyt_board_render(&out->msg, &c->text, (int64_t)out->msg.generated_ms,
                                   c->utc_offset_s, out->text, sizeof out->text);
    uint32_t nl = 0;
    for (char *s = out->text; len && *s && nl < c->text.rows; nl++) {
        char *e = strchr(s, '\n');
        out->linep[nl] = s;
        if (!e)
            break;
        *e = '\0';
        s = e + 1;
    }
    out->msg.n_lines = nl;
    out->msg.lines = out->linep;
    out->msg.line_width = c->text.width;
    out->msg.ascii = c->text.ascii;
}

/* The rules at the top of board.h for one visit; boards and the passenger API's arrivals
 * (predict_arrivals.c) both decide through here. */
void buyt_board_visit_classify(const struct buyt_board_config *c, const struct buyt_predict *p,
                               uint32_t trip, uint32_t k, int64_t sched_ms, int64_t now_ms,
                               struct buyt_board_visit *out)
{
    memset(out, 0, sizeof *out);
    out->kind = BUYT_BOARD_VISIT_SCHEDULE;
    out->eta_ms = sched_ms;
    out->status = BUYT__V1__ARRIVAL_STATUS__ARRIVAL_STATUS_SCHEDULED_ONLY;
    struct buyt_predict_arrival a;
    enum buyt_predict_state st = buyt_predict_get(p, trip, k, &a);
    if (st == BUYT_PREDICT_DEPARTED) {
        out->kind = BUYT_BOARD_VISIT_GONE;
        return;
    }
    if (st == BUYT_PREDICT_CANCELLED) {
        out->kind = BUYT_BOARD_VISIT_CANCELLED;
        out->status = BUYT__V1__ARRIVAL_STATUS__ARRIVAL_STATUS_CANCELLED;
        return;
    }
    if (st != BUYT_PREDICT_LIVE)
        return;
    out->pred = a;
    if (a.off_route || now_ms - a.fix_ms > (int64_t)c->stale_s * 1000) {
        /* A ghost: off its route or silent. The schedule, marked as such. */
        out->kind = a.off_route ? BUYT_BOARD_VISIT_OFF_ROUTE : BUYT_BOARD_VISIT_SILENT;
        return;
    }
    out->eta_ms = a.eta_ms > now_ms || !a.on_trip ? a.eta_ms : now_ms;
    int64_t to_go = out->eta_ms - now_ms, late = out->eta_ms - sched_ms;
    bool close = to_go <= (int64_t)c->approaching_s * 1000;
    bool delayed = late > (int64_t)c->delayed_s * 1000;
    if (!a.on_trip) { /* not started: its vehicle is still on the trip before */
        out->kind = BUYT_BOARD_VISIT_BLOCK;
        out->status = delayed ? BUYT__V1__ARRIVAL_STATUS__ARRIVAL_STATUS_DELAYED
                              : BUYT__V1__ARRIVAL_STATUS__ARRIVAL_STATUS_SCHEDULED_ONLY;
        return;
    }
    out->kind = BUYT_BOARD_VISIT_LIVE;
    out->realtime = true;
    if (a.at_stop && (k > 0 || close))
        out->status = BUYT__V1__ARRIVAL_STATUS__ARRIVAL_STATUS_AT_STOP;
    else if (close)
        out->status = BUYT__V1__ARRIVAL_STATUS__ARRIVAL_STATUS_APPROACHING;
    else if (delayed)
        out->status = BUYT__V1__ARRIVAL_STATUS__ARRIVAL_STATUS_DELAYED;
    else
        out->status = BUYT__V1__ARRIVAL_STATUS__ARRIVAL_STATUS_REALTIME;
}

/* The arrivals of a board and its content hash; no text lines yet. */
static int board_arrivals(struct buyt_boards *b, const struct buyt_predict *p, uint32_t stop,
                          int64_t now_ms, struct buyt_board *out)
{
    const struct buyt_network *net = b->net;
    const struct buyt_board_config *c = &b->cfg;
    if (!net || stop >= net->n_stops)
        return BUYT_EINVAL;
    struct buyt_board_counters *ctr = &b->ctr;
    struct cand cand[CAND_MAX];
    uint32_t nc = 0;
    int64_t end = now_ms + (int64_t)c->horizon_s * 1000;
    /* When the clock alone may next change this board (the sweep's schedule): a visit
     * entering the horizon, a schedule-only visit's time passing, a vehicle turning silent,
     * a listed arrival's minutes or status moving. At most BOARD_RECHECK_MS ahead. */
    int64_t next = now_ms + BOARD_RECHECK_MS;
    uint32_t hi = b->visit_first[stop + 1];
    uint32_t keep = c->max_arrivals, scanned = 0;
    for (uint32_t i = visit_lower(b, stop, now_ms - (int64_t)c->late_window_s * 1000);
         i < hi && scanned < VISITS_MAX; i++, scanned++) {
        const struct visit *v = &b->visits[i];
        int64_t sched = b->base_ms + (int64_t)v->t_s * 1000;
        if (sched > end) {
            next = min64(next, sched - (int64_t)c->horizon_s * 1000 + 1);
            break;
        }
        struct buyt_board_visit bv;
        buyt_board_visit_classify(c, p, v->trip, v->k, sched, now_ms, &bv);
        if (bv.kind == BUYT_BOARD_VISIT_GONE)
            continue;
        if (bv.kind == BUYT_BOARD_VISIT_OFF_ROUTE)
            ctr->off_route++;
        else if (bv.kind == BUYT_BOARD_VISIT_SILENT)
            ctr->stale_vehicles++;
        bool predicted = bv.kind == BUYT_BOARD_VISIT_LIVE || bv.kind == BUYT_BOARD_VISIT_BLOCK;
        if (predicted ? bv.eta_ms > end : sched < now_ms)
            continue; /* beyond the horizon; or schedule-only and its time has passed */
        if (!predicted)
            next = min64(next, sched + 1);
        else if (bv.pred.fix_ms)
            next = min64(next, bv.pred.fix_ms + (int64_t)c->stale_s * 1000 + 1);
        struct cand x = {.eta_ms = bv.eta_ms,
                         .sched_ms = sched,
                         .trip = v->trip,
                         .status = bv.status,
                         .realtime = bv.realtime,
                         .vehicle = predicted ? bv.pred.label : NULL};
        /* Keep the soonest `keep`, sorted: insertion into at most 16 (no sort of all). */
        if (nc == keep && cand_cmp(&x, &cand[nc - 1]) >= 0)
            continue;
        uint32_t j = nc < keep ? nc++ : nc - 1;
        while (j > 0 && cand_cmp(&x, &cand[j - 1]) < 0) {
            cand[j] = cand[j - 1];
            j--;
        }
        cand[j] = x;
    }
    for (uint32_t i = 0; i < nc; i++) {
        int64_t d = cand[i].eta_ms - now_ms, m = floor_div(d, 60000);
        if (m >= 1) /* shows m minutes until d < m min */
            next = min64(next, cand[i].eta_ms - m * 60000 + 1);
        if (d > (int64_t)c->approaching_s * 1000)
            next = min64(next, cand[i].eta_ms - (int64_t)c->approaching_s * 1000 + 1);
    }
    out->next_change_ms = next;

    memset(&out->msg, 0, sizeof out->msg);
    buyt__v1__stop_board__init(&out->msg);
    out->stop = stop;
    out->msg.stop_id = str(net->stops[stop].id);
    out->msg.stop_name = str(net->stops[stop].name);
    out->msg.generated_ms = (uint64_t)now_ms;
    out->msg.n_arrivals = nc;
    out->msg.arrivals = out->arrp;
    uint64_t h = mix(1469598103934665603ull, nc);
    for (uint32_t i = 0; i < nc; i++) {
        const struct cand *x = &cand[i];
        const struct buyt_network_trip *t = &net->trips[x->trip];
        const struct buyt_network_route *r = &net->routes[t->route];
        Buyt__V1__Arrival *a = &out->arr[i];
        buyt__v1__arrival__init(a);
        out->arrp[i] = a;
        size_t vl = x->vehicle ? strnlen(x->vehicle, BUYT_PREDICT_LABEL - 1) : 0;
        memcpy(out->vehicle[i], x->vehicle ? x->vehicle : "", vl);
        out->vehicle[i][vl] = '\0';
        out->trip[i] = x->trip;
        a->route_short_name = str(r->short_name && *r->short_name ? r->short_name : r->id);
        /* No headsign: the trip's last stop names where it goes. */
        a->headsign =
            str(t->headsign && *t->headsign
                    ? t->headsign
                    : net->stops[buyt_network_trip_stop(net, x->trip, t->n_stops - 1)].name);
        a->trip_id = str(t->id);
        a->vehicle_id = out->vehicle[i];
        a->eta_ms = (uint64_t)x->eta_ms;
        int64_t m = floor_div(x->eta_ms - now_ms, 60000);
        a->minutes = (int32_t)(m < 0 ? 0 : m);
        a->status = (Buyt__V1__ArrivalStatus)x->status;
        a->realtime = x->realtime;
        a->scheduled_ms = (uint64_t)x->sched_ms;
        a->route_id = str(r->id);
        h = mix(h, x->trip);
        h = mix(h,
                ((uint64_t)(uint32_t)a->minutes << 8) | ((uint64_t)x->status << 1) | x->realtime);
        h = mix_str(h, out->vehicle[i], vl);
    }
    out->content = h;

    ctr->built++;
    return 0;
}

const struct buyt_board_config *buyt_boards_config(const struct buyt_boards *b)
{
    return &b->cfg;
}

int buyt_boards_build(struct buyt_boards *b, const struct buyt_predict *p, uint32_t stop,
                      int64_t now_ms, struct buyt_board *out)
{
    int rc = board_arrivals(b, p, stop, now_ms, out);
    if (!rc)
        board_text(&b->cfg, out);
    return rc;
}

size_t buyt_board_pack(const struct buyt_board *bd, uint8_t *buf, size_t cap)
{
    size_t need = buyt__v1__stop_board__get_packed_size(&bd->msg);
    if (need > cap)
        return 0;
    return buyt__v1__stop_board__pack(&bd->msg, buf);
}

/* Drops the stops whose mark was cleared from the dirty list (refused publishes stay). */
static void compact_dirty(struct buyt_boards *b)
{
    uint32_t w = 0;
    for (uint32_t i = 0; i < b->n_dirty; i++)
        if (b->dirty_ns[b->dirty[i]])
            b->dirty[w++] = b->dirty[i];
    b->n_dirty = w;
}

/* Builds stop s's board and publishes it when due (content changed, never published, or
 * `every` ms since the last publish; every < 0: only on a change). A pending change mark is
 * cleared once the board was built and found published or unchanged; a publish records the
 * mark's latency. Returns 1 if published. */
static uint32_t board_offer(struct buyt_boards *b, const struct buyt_predict *p, uint32_t s,
                            int64_t now_ms, uint64_t now_ns, int64_t every,
                            buyt_board_publish_cb publish, void *ctx)
{
    struct buyt_board *bd = &b->scratch;
    if (board_arrivals(b, p, s, now_ms, bd))
        return 0;
    b->built_ms[s] = now_ms;
    b->due_ms[s] = bd->next_change_ms;
    bool changed = !b->last_pub_ms[s] || bd->content != b->last_content[s];
    if (!changed && (every < 0 || now_ms - b->last_pub_ms[s] < every)) {
        b->dirty_ns[s] = 0; /* nothing a rider sees moved */
        return 0;
    }
    board_text(&b->cfg, bd);
    size_t len = buyt_board_pack(bd, b->buf, b->buf_cap);
    if (!len || !publish(ctx, b->net->stops[s].id, b->buf, len)) {
        b->ctr.publish_refused++;
        return 0; /* the mark stays: offered again */
    }
    if (b->dirty_ns[s] && changed) {
        buyt_hist_add(&b->latency, now_ns > b->dirty_ns[s] ? (now_ns - b->dirty_ns[s]) / 1000 : 0);
        b->ctr.published_on_change++;
    }
    b->dirty_ns[s] = 0;
    b->last_pub_ms[s] = now_ms;
    b->last_content[s] = bd->content;
    b->ctr.published++;
    return 1;
}

uint32_t buyt_boards_tick(struct buyt_boards *b, const struct buyt_predict *p, int64_t now_ms,
                          buyt_board_publish_cb publish, void *ctx)
{
    const struct buyt_network *net = b->net;
    if (!net)
        return 0;
    b->ctr.ticks++;
    uint32_t published = 0;
    uint64_t now_ns = buyt_mono_ns();
    int64_t every = (int64_t)b->cfg.republish_s * 1000;
    for (uint32_t s = 0; s < net->n_stops; s++) {
        if (b->visit_first[s] == b->visit_first[s + 1])
            continue; /* no trip boards here */
        /* Unmarked, built since (the clock did not go back), not due: nothing can have
         * changed (changes by fixes are marked; see buyt_boards_touch). */
        if (!b->dirty_ns[s] && b->last_pub_ms[s] && now_ms >= b->built_ms[s] &&
            now_ms < b->due_ms[s] && now_ms - b->last_pub_ms[s] < every) {
            b->ctr.sweep_skipped++;
            continue;
        }
        published += board_offer(b, p, s, now_ms, now_ns, every, publish, ctx);
    }
    compact_dirty(b);
    return published;
}

void buyt_boards_touch(struct buyt_boards *b, uint32_t stop, uint64_t since_ns)
{
    if (!b->net || stop >= b->net->n_stops || b->visit_first[stop] == b->visit_first[stop + 1])
        return;
    if (!since_ns)
        since_ns = 1;
    if (b->dirty_ns[stop]) {
        if (since_ns < b->dirty_ns[stop])
            b->dirty_ns[stop] = since_ns;
        return;
    }
    b->dirty_ns[stop] = since_ns;
    b->dirty[b->n_dirty++] = stop; /* a stop is listed once: it is listed iff dirty_ns set */
    b->ctr.touched++;
}

uint32_t buyt_boards_pending(const struct buyt_boards *b)
{
    return b->n_dirty;
}

uint32_t buyt_boards_flush(struct buyt_boards *b, const struct buyt_predict *p, int64_t now_ms,
                           buyt_board_publish_cb publish, void *ctx)
{
    if (!b->net)
        return 0;
    b->ctr.flushes++;
    uint64_t now_ns = buyt_mono_ns();
    uint32_t published = 0;
    for (uint32_t i = 0; i < b->n_dirty; i++)
        if (b->dirty_ns[b->dirty[i]])
            published += board_offer(b, p, b->dirty[i], now_ms, now_ns, -1, publish, ctx);
    compact_dirty(b);
    return published;
}

uint64_t buyt_boards_oldest_mark(const struct buyt_boards *b)
{
    /* Marks are listed in the order of their first touch, with message arrival times: the
     * first listed is the oldest (a later touch keeps the older time). */
    return b->n_dirty ? b->dirty_ns[b->dirty[0]] : 0;
}

const struct buyt_hist *buyt_boards_latency(const struct buyt_boards *b)
{
    return &b->latency;
}

void buyt_boards_counters(const struct buyt_boards *b, struct buyt_board_counters *out)
{
    *out = b->ctr;
}
