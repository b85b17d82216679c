/* receipt.c -- the signed digests of the receipts a recipient sends: a
 * delivery receipt (one signature may acknowledge many records, so receipts
 * do not double the signing cost) and a retention receipt (what it did with
 * one copy when its retention ended). */
#include <sodium.h>
#include <string.h>

#include "record.h"

static void
s_u64 (crypto_generichash_state *st, uint64_t v)
{
    uint8_t le[8];
    for (int i = 0; i < 8; i++)
        le[i] = (uint8_t) (v >> (8 * i));
    crypto_generichash_update (st, le, sizeof le);
}

int
macx_record_receipt_digest (const Macx__Receipt *r, uint8_t out[64])
{
    if (r->n_record_ids != r->n_mailbox_seqs)
        return MACX_EINVAL;
    crypto_generichash_state st;
    crypto_generichash_init (&st, NULL, 0, 64);
    s_u64 (&st, 15);
    crypto_generichash_update (&st, (const uint8_t *) "macx-receipt-v1", 15);
    size_t rl = r->recipient ? strlen (r->recipient) : 0;
    s_u64 (&st, rl);
    crypto_generichash_update (&st, (const uint8_t *) (r->recipient ? r->recipient : ""), rl);
    s_u64 (&st, (uint64_t) r->time_ms);
    s_u64 (&st, r->n_record_ids);
    for (size_t i = 0; i < r->n_record_ids; i++) {
        s_u64 (&st, r->record_ids[i].len);
        crypto_generichash_update (&st, r->record_ids[i].data, r->record_ids[i].len);
        s_u64 (&st, r->mailbox_seqs[i]);
    }
    crypto_generichash_final (&st, out, 64);
    return MACX_OK;
}

static void
s_str (crypto_generichash_state *st, const char *s)
{
    size_t n = s ? strlen (s) : 0;
    s_u64 (st, n);
    crypto_generichash_update (st, (const uint8_t *) (s ? s : ""), n);
}

int
macx_record_retention_digest (const Macx__RetentionReceipt *r, uint8_t out[64])
{
    crypto_generichash_state st;
    crypto_generichash_init (&st, NULL, 0, 64);
    s_str (&st, "macx-retention-v1");
    s_str (&st, r->agency);
    s_u64 (&st, r->record_id.len);
    crypto_generichash_update (&st, r->record_id.data, r->record_id.len);
    s_str (&st, r->action);
    s_u64 (&st, (uint64_t) r->at_ms);
    crypto_generichash_final (&st, out, 64);
    return MACX_OK;
}
