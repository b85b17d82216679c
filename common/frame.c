/* frame.c -- single-field protobuf peeks, bounded. */
#include "frame.h"

static int
s_varint (const uint8_t *p, size_t len, size_t *used, uint64_t *value)
{
    uint64_t v = 0;
    for (size_t i = 0; i < len && i < 10; i++) {
        v |= (uint64_t) (p[i] & 0x7f) << (7 * i);
        if (!(p[i] & 0x80)) {
            *used = i + 1;
            *value = v;
            return 0;
        }
    }
    return -1;
}

int
macx_frame_peek (const uint8_t *data, size_t len, uint32_t *field, const uint8_t **body,
                 size_t *body_len)
{
    size_t used, used2;
    uint64_t tag, n;
    if (s_varint (data, len, &used, &tag) != 0 || (tag & 7) != 2 || (tag >> 3) == 0
        || (tag >> 3) > 0x1fffffff)
        return -1;
    if (s_varint (data + used, len - used, &used2, &n) != 0 || n != len - used - used2)
        return -1;
    *field = (uint32_t) (tag >> 3);
    *body = data + used + used2;
    *body_len = (size_t) n;
    return 0;
}

int
macx_frame_next (const uint8_t *data, size_t len, size_t *pos, uint32_t *field,
                 const uint8_t **body, size_t *body_len)
{
    if (*pos >= len)
        return 0;
    size_t used, used2, at = *pos;
    uint64_t tag, n;
    if (s_varint (data + at, len - at, &used, &tag) != 0 || (tag & 7) != 2 || (tag >> 3) == 0
        || (tag >> 3) > 0x1fffffff)
        return -1;
    at += used;
    if (s_varint (data + at, len - at, &used2, &n) != 0 || n > len - at - used2)
        return -1;
    at += used2;
    *field = (uint32_t) (tag >> 3);
    *body = data + at;
    *body_len = (size_t) n;
    *pos = at + (size_t) n;
    return 1;
}

static size_t
s_put_varint (uint64_t v, uint8_t *out)
{
    size_t n = 0;
    do {
        uint8_t b = v & 0x7f;
        v >>= 7;
        out[n++] = (uint8_t) (b | (v ? 0x80 : 0));
    } while (v);
    return n;
}

size_t
macx_frame_prefix (uint32_t field, size_t body_len, uint8_t *out)
{
    size_t n = s_put_varint ((uint64_t) field << 3 | 2, out);
    return n + s_put_varint (body_len, out + n);
}
