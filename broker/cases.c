/* cases.c -- reading the case context a broker holds (LMDB "cases", kept by
 * core.c from what it accepted), for tools: `macx policy explain --data`. */
#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "audit.h"
#include "judge.h"

int
macx_cases_read (const char *data_dir, const char *case_id, Macx__CaseState **state,
                 macx_error_t *err)
{
    *state = NULL;
    char path[4096];
    struct stat st;
    snprintf (path, sizeof path, "%s/data.mdb", data_dir);
    if (stat (path, &st) != 0)
        return macx_error_set (err, MACX_ENOTFOUND, "%s: no broker store here (no data.mdb)",
                               data_dir);
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_dbi dbi;
    MDB_val k = { strlen (case_id), (void *) case_id }, d;
    int rc = mdb_env_create (&env);
    if (rc == 0)
        rc = mdb_env_set_maxdbs (env, MACX_AUDIT_MAXDBS);
    if (rc == 0)   /* read-only: the map size recorded in the file; beside a running broker */
        rc = mdb_env_open (env, data_dir, MDB_RDONLY | MDB_NOTLS, 0600);
    if (rc == 0)
        rc = mdb_txn_begin (env, NULL, MDB_RDONLY, &txn);
    if (rc) {
        macx_error_set (err, rc == EACCES ? MACX_EIO : MACX_ESTORE, "%s: cannot open the store: %s",
                        data_dir, mdb_strerror (rc));
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
    if (env)
        mdb_env_close (env);
    return rc ? (err && err->code ? err->code : MACX_ESTORE) : 0;
}
