#ifndef HOOKTOP_CSQLITE_SHIM_H
#define HOOKTOP_CSQLITE_SHIM_H
#include <sqlite3.h>

/// Process-wide settings, before the first connection: no memory statistics, which would take a global mutex on
/// every allocation SQLite makes. sqlite3_config is variadic; Swift cannot call it.
static inline int hooktop_sqlite_configure(void) { return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); }

/// A connection's lookaside allocator: `count` slots of `size` bytes for SQLite's small, short-lived allocations.
static inline int hooktop_sqlite_lookaside(sqlite3 *db, int size, int count) {
    return sqlite3_db_config(db, SQLITE_DBCONFIG_LOOKASIDE, (void *)0, size, count);
}
#endif
