/* frame.h -- bounded peeks into protobuf bytes without unpacking them: the
 * broker's I/O thread routes a Frame by its one set field and hands the
 * body on untouched. */
#ifndef MACX_FRAME_H
#define MACX_FRAME_H

#include <stddef.h>
#include <stdint.h>

/* Reads the single length-delimited top-level field that a oneof-only
 * message (like macx.Frame) carries: its field number and its body. The
 * field must span the input exactly. Returns 0, or -1 when data is not one
 * such field (truncated, trailing bytes, wrong wire type, overlong varint). */
int macx_frame_peek (const uint8_t *data, size_t len, uint32_t *field, const uint8_t **body,
                     size_t *body_len);

/* Reads the next length-delimited field of a message body at *pos (which
 * it advances): its field number and its bytes, bounded by len. Returns 1
 * with a field, 0 at the end of data, -1 when what is at *pos is not a
 * complete length-delimited field (another wire type, truncated, overlong
 * varint). Used for the repeated bytes of macx.Records. */
int macx_frame_next (const uint8_t *data, size_t len, size_t *pos, uint32_t *field,
                     const uint8_t **body, size_t *body_len);

/* Most Envelopes in one Records frame, and the most bytes a Records frame
 * may have (the broker's transport reads 4 MiB frames). */
#define MACX_FRAME_RECORDS_MAX 1024
#define MACX_FRAME_RECORDS_BYTES (2u << 20)

/* Writes the tag and length prefix for field (wire type 2) with a body of
 * body_len bytes into out (at least 15 bytes); returns the prefix length. */
size_t macx_frame_prefix (uint32_t field, size_t body_len, uint8_t *out);

#endif
