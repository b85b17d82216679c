/* cases.c -- reading the case context a broker holds (LMDB "cases", kept by
 * core.c from what it accepted), for tools: `macx policy explain --data`. */
#include <lmdb.h>
#include <stdio.h>
#include <string.h>

#include "audit.h"
#include "judge.h"

int
macx_cases_read (const char *data_dir, const char *case_id, Macx__CaseState **state,
                 macx_error_t *err)
{
    *state = NULL;
    macx_audit_reader_t *reader = macx_audit_reader_open (data_dir, err);
    if (!reader)
        return err && err->code ? err->code : MACX_ESTORE;
    MDB_txn *txn = NULL;
    MDB_dbi dbi;
    MDB_val k = { strlen (case_id), (void *) case_id }, d;
    int rc = mdb_txn_begin (macx_audit_reader_env (reader), NULL, MDB_RDONLY, &txn);
    if (rc) {
        macx_error_set (err, MACX_ESTORE, "%s: cannot read the store: %s", data_dir,
                        mdb_strerror (rc));
        goto done;
    }
    rc = mdb_dbi_open (txn, "cases", 0, &dbi);
    if (rc == MDB_NOTFOUND) {   /* a store from before case context: no case known */
        rc = 0;
        goto done;
    }
    if (rc == 0)
        rc = mdb_get (txn, dbi, &k, &d);
    if (rc == MDB_NOTFOUND) {
        rc = 0;
        goto done;
    }
    if (rc) {
        macx_error_set (err, MACX_ESTORE, "%s: cannot read case '%s': %s", data_dir, case_id,
                        mdb_strerror (rc));
        goto done;
    }
    if (!(*state = macx__case_state__unpack (NULL, d.mv_size, d.mv_data))) {
        rc = -1;
        macx_error_set (err, MACX_ESTORE, "%s: case '%s' does not decode", data_dir, case_id);
    }
done:
    if (txn)
        mdb_txn_abort (txn);
    macx_audit_reader_destroy (&reader);
    return rc ? (err && err->code ? err->code : MACX_ESTORE) : 0;
}
