/* Normalisation of one word-list entry (see docs/modality-text.md, "Normalisation"):
 * decode (UTF-8, or ISO-8859-1 when the line is not valid UTF-8: wswedish ships Latin-1),
 * lowercase the Latin letters, keep the entry only if every character is then a lowercase
 * Latin letter (a-z, U+00DF..U+017F except U+00F7), and re-encode it as UTF-8. */
#include "text.h"

/* Strict UTF-8 decoding of s[0..n): code points into cp (at most max); -1 when invalid
 * (bad lead or continuation byte, overlong form, surrogate, above U+10FFFF, too many). */
static int decode_utf8(const uint8_t *s, size_t n, uint32_t *cp, int max) {
    int k = 0;
    for (size_t i = 0; i < n;) {
        const uint8_t b = s[i];
        uint32_t c;
        int extra;
        if (b < 0x80) c = b, extra = 0;
        else if (b >= 0xC2 && b <= 0xDF) c = b & 0x1Fu, extra = 1;
        else if (b >= 0xE0 && b <= 0xEF) c = b & 0x0Fu, extra = 2;
        else if (b >= 0xF0 && b <= 0xF4) c = b & 0x07u, extra = 3;
        else return -1;
        if ((size_t)extra >= n - i) return -1; /* sequence cut short */
        for (int j = 1; j <= extra; j++) {
            if ((s[i + j] & 0xC0) != 0x80) return -1;
            c = (c << 6) | (s[i + j] & 0x3Fu);
        }
        if ((extra == 2 && (c < 0x800 || (c >= 0xD800 && c <= 0xDFFF))) || (extra == 3 && (c < 0x10000 || c > 0x10FFFF)))
            return -1;
        if (k == max) return -1;
        cp[k++] = c;
        i += (size_t)extra + 1;
    }
    return k;
}

/* Lowercase of the Latin letters this task meets (Basic Latin, Latin-1, Latin Extended-A,
 * capital sharp s); any other code point is returned unchanged. */
static uint32_t lower(uint32_t c) {
    if (c >= 'A' && c <= 'Z') return c + 32;
    if (c >= 0xC0 && c <= 0xDE && c != 0xD7) return c + 32;
    if (c == 0x178) return 0xFF;
    if (c == 0x1E9E) return 0xDF;
    /* Latin Extended-A: upper/lower pairs, upper first, except the odd-aligned runs */
    if ((c >= 0x100 && c <= 0x137) || (c >= 0x14A && c <= 0x177)) return c | 1u;
    if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) return (c & 1u) ? c + 1 : c;
    return c;
}

static int is_lower_letter(uint32_t c) { return (c >= 'a' && c <= 'z') || (c >= 0xDF && c <= 0x17F && c != 0xF7); }

int text_normalize(const uint8_t *line, size_t n, uint8_t *out, int max_out) {
    uint32_t cp[TXT_MAX_LEN];
    while (n > 0 && (line[n - 1] == '\r' || line[n - 1] == ' ' || line[n - 1] == '\t')) n--;
    if (n == 0 || n > 4 * TXT_MAX_LEN) return -1;
    int k = decode_utf8(line, n, cp, TXT_MAX_LEN);
    if (k < 0) { /* not UTF-8: ISO-8859-1, one byte per code point */
        if (n > TXT_MAX_LEN) return -1;
        k = (int)n;
        for (int i = 0; i < k; i++) cp[i] = line[i];
    }
    int len = 0;
    for (int i = 0; i < k; i++) {
        const uint32_t c = lower(cp[i]);
        if (!is_lower_letter(c)) return -1;
        if (c < 0x80) {
            if (len + 1 > max_out) return -1;
            out[len++] = (uint8_t)c;
        } else { /* every kept code point is below U+0800: two bytes */
            if (len + 2 > max_out) return -1;
            out[len++] = (uint8_t)(0xC0 | (c >> 6));
            out[len++] = (uint8_t)(0x80 | (c & 0x3F));
        }
    }
    return len;
}
