/* ecsdb/ecsdb_client.h — the replica client (ecsdb/replica.hpp) behind a C ABI, for engines and languages that
 * are not C++: C# (P/Invoke), Rust (bindgen), Godot (GDExtension), Python (ctypes). Pure C99; part of the
 * ecsdb_replication library (link ECSDb::ecsdb, or build it into a shared library of your own: it is compiled
 * position-independent). docs/replication.md, "C ABI", has a whole program (examples/c_replica/main.c).
 *
 *   ecsdb_replica_options o = {0};                 // zero fields take the defaults below
 *   o.host = "127.0.0.1";
 *   o.port = 7070;
 *   char error[256];
 *   ecsdb_replica* r = NULL;
 *   if (ecsdb_replica_connect(&o, &r, error, sizeof error) != ECSDB_OK) { puts(error); return 1; }
 *   int health = ecsdb_replica_table(r, "health");
 *   ecsdb_field_info hp;
 *   ecsdb_replica_field(r, health, ecsdb_replica_field_index(r, health, "hp"), &hp);
 *   uint64_t version;
 *   if (ecsdb_replica_poll(r, &version)) {          // once per frame: 1 when there is a new version
 *     ecsdb_view* v = ecsdb_replica_pin(r);         // a consistent snapshot, read without locks
 *     const void* row = ecsdb_view_get(v, health, player);
 *     if (row != NULL) { uint32_t value; memcpy(&value, (const char*)row + hp.offset, 4); }
 *     ecsdb_view_release(v);
 *   }
 *   ecsdb_write* w = ecsdb_write_new();
 *   ecsdb_write_update(w, "health", player, UINT64_C(1) << hp.id, row_image, row_size);
 *   uint64_t request = ecsdb_replica_submit(r, w);
 *   ecsdb_write_free(w);                             // the submitted write was copied
 *   ... ecsdb_replica_write_wait(r, request, 0, &version, error, sizeof error) ...  // 0: committed
 *   ecsdb_replica_close(r);
 *
 * Status codes. Functions that can fail return an int: 0 (ECSDB_OK) or the numeric ecsdb::StatusCode
 * (ecsdb/status.hpp; the values are part of the replication protocol and never change), and, when given an
 * `error` buffer of `error_size` bytes, write a NUL-terminated message into it ("" on success; truncated to
 * fit). Functions that return a handle, a count or a version return NULL or 0 when given a NULL handle or
 * a bad table id. No function throws: a C++ exception inside one is caught and reported as ECSDB_INTERNAL
 * (or as NULL / 0).
 *
 * Ownership and lifetimes.
 *   - ecsdb_replica: made by ecsdb_replica_connect, ended by ecsdb_replica_close (which disconnects and frees
 *     it). Strings it returns (table and field names, type spellings) stay valid until then.
 *   - ecsdb_view: made by ecsdb_replica_pin, freed by ecsdb_view_release (exactly once). Every pointer a view
 *     returns (row bytes) points into the pinned version and stays valid and unchanged until the view is
 *     released, not a moment longer. A view may outlive ecsdb_replica_close: the replica's memory is freed
 *     when its last view is released (garbage-collected bindings may release in any order). Hold a view
 *     for a frame, not forever: it keeps the pages of its version alive.
 *   - ecsdb_write: made by ecsdb_write_new, freed by ecsdb_write_free. ecsdb_replica_submit copies it: free or
 *     reuse it right after. Row bytes given to ecsdb_write_put/update/insert are copied at once.
 *   - Everything written into caller memory (messages, ecsdb_field_info, ecsdb_overwritten) is the caller's.
 *
 * Threads. Every function taking an ecsdb_replica may be called from any thread, concurrently. A view may be
 * read from several threads at once, and released by any one of them, once, when all are done. An
 * ecsdb_write is used by one thread at a time. The replica's own thread applies frames in the background:
 * nothing here is called back.
 *
 * Keys. Entities are 64 bits: generation << 32 | index (ecsdb::Entity::bits). Rows of `one` tables are keyed
 * by their entity, rows of `many` tables by their RowId (the same shape).
 *
 * Rows are the table's row image: ecsdb_replica_table_stride bytes, each stored field at its offset
 * (ecsdb_replica_field). Fields that are not stored (the owner key, the entity table's id) are not in it.
 */
#ifndef ECSDB_ECSDB_CLIENT_H_
#define ECSDB_ECSDB_CLIENT_H_

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define ECSDB_CLIENT_API __attribute__((visibility("default")))
#else
#define ECSDB_CLIENT_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* C ABI names are snake_case whatever the C++ naming rules say. */
/* NOLINTBEGIN(readability-identifier-naming) */

/* Bumped when a struct or a signature below changes incompatibly. 2: compression, filters, bytes_uncompressed. */
#define ECSDB_CLIENT_ABI_VERSION 2

/* ecsdb::StatusCode values (ecsdb/status.hpp). */
#define ECSDB_OK 0
#define ECSDB_INVALID_ARGUMENT 1     /* bad input: a NULL handle, an unknown table id, a wrong row size */
#define ECSDB_NOT_FOUND 2            /* entity, table, field or row absent */
#define ECSDB_STALE_ENTITY 3
#define ECSDB_ALREADY_EXISTS 4
#define ECSDB_CONSTRAINT_VIOLATION 5
#define ECSDB_CONFLICT 6
#define ECSDB_SCHEMA_ERROR 7
#define ECSDB_BINDING_MISMATCH 8
#define ECSDB_IO_ERROR 9
#define ECSDB_CORRUPTION 10
#define ECSDB_ABORTED 11
#define ECSDB_INTERNAL 12            /* a bug, or an exception caught at the ABI */
#define ECSDB_RESOURCE_EXHAUSTED 13
#define ECSDB_UNAVAILABLE 14         /* not connected, or the server is shutting down */
#define ECSDB_PERMISSION_DENIED 15   /* the token may not do that */
#define ECSDB_FAILED_PRECONDITION 16 /* e.g. a schema mismatch */
#define ECSDB_DEADLINE_EXCEEDED 17   /* e.g. no first sync within connect_timeout_ms */

/* ecsdb_replica_write_wait only (never a StatusCode). */
#define ECSDB_WRITE_PENDING (-1)     /* not answered within the timeout: the request stays, wait again */
#define ECSDB_WRITE_UNKNOWN (-2)     /* no such request: never submitted, forgotten, or already answered */

/* Table cardinality (ecsdb::Cardinality). */
#define ECSDB_CARDINALITY_ONE 0      /* one row per entity, keyed by the entity */
#define ECSDB_CARDINALITY_MANY 1     /* several rows per entity, keyed by RowId, each with an owner */

/* ecsdb_field_info.kind (ecsdb::TypeKind). */
#define ECSDB_TYPE_SCALAR 0
#define ECSDB_TYPE_ARRAY 1           /* [T; N], inline */
#define ECSDB_TYPE_ENUM 2            /* over an integer scalar */
#define ECSDB_TYPE_STRUCT 3
#define ECSDB_TYPE_STRING 4          /* str<N>: N UTF-8 bytes, zero padded */
#define ECSDB_TYPE_ENTITY 5          /* a 64-bit entity key */

/* ecsdb_field_info.scalar (ecsdb::ScalarKind), or -1. */
#define ECSDB_SCALAR_U8 0
#define ECSDB_SCALAR_U16 1
#define ECSDB_SCALAR_U32 2
#define ECSDB_SCALAR_U64 3
#define ECSDB_SCALAR_I8 4
#define ECSDB_SCALAR_I16 5
#define ECSDB_SCALAR_I32 6
#define ECSDB_SCALAR_I64 7
#define ECSDB_SCALAR_F32 8
#define ECSDB_SCALAR_F64 9
#define ECSDB_SCALAR_BOOL 10

typedef struct ecsdb_replica ecsdb_replica;
typedef struct ecsdb_view ecsdb_view;
typedef struct ecsdb_write ecsdb_write;

/* A subscription filter (ecsdb/subscription_filter.hpp; docs/replication.md, "Subscriptions and filters").
 * Zero-initialise, then set `kind` and what it uses. */
#define ECSDB_FILTER_ENTITIES 1   /* rows of these entities (of `many` tables: the rows they own) */
#define ECSDB_FILTER_FIELD 2      /* rows whose `field` compares true with the value */
#define ECSDB_FILTER_CUSTOM 3     /* a filter the server registered under `name`, with `params` */
#define ECSDB_OP_EQ 1
#define ECSDB_OP_NE 2
#define ECSDB_OP_LT 3
#define ECSDB_OP_LE 4
#define ECSDB_OP_GT 5
#define ECSDB_OP_GE 6
#define ECSDB_VALUE_BOOL 1        /* uint_value: 0 or 1 */
#define ECSDB_VALUE_INT 2         /* int_value */
#define ECSDB_VALUE_UINT 3        /* uint_value */
#define ECSDB_VALUE_FLOAT 4       /* float_value */
#define ECSDB_VALUE_STRING 5      /* string_value: a str<N> value, or an enum's variant name */
#define ECSDB_VALUE_ENTITY 6      /* uint_value: the entity id */
typedef struct ecsdb_filter {
  int kind;                       /* ECSDB_FILTER_* */
  const char* table;              /* NULL or "": every subscribed table (entity sets and custom filters only) */
  const uint64_t* entities;       /* ENTITIES: entity_count entity ids */
  size_t entity_count;
  const char* field;              /* FIELD: a scalar field of `table` */
  int op;                         /* FIELD: ECSDB_OP_*; bools, entities, enums and strings take EQ and NE only */
  int value_kind;                 /* FIELD: ECSDB_VALUE_* */
  int64_t int_value;
  uint64_t uint_value;
  double float_value;
  const char* string_value;
  const char* name;               /* CUSTOM: the server's name for it */
  const void* params;             /* CUSTOM: params_size bytes, in the form that filter defines */
  size_t params_size;
} ecsdb_filter;

/* Zero-initialise, then set what you need: a zero field takes its default. Read only during connect. */
typedef struct ecsdb_replica_options {
  const char* host;               /* NULL or "": "127.0.0.1" */
  const char* token;              /* NULL or "": none (a server without tokens) */
  const char* const* tables;      /* table_count table names; table_count 0: every table the token may read */
  size_t table_count;
  uint16_t port;                  /* 0: 7070 */
  int durable_only;               /* nonzero: receive versions only once they are durable on the server */
  uint32_t connect_timeout_ms;    /* 0: 5000. connect fails when the first full sync has not arrived by then */
  int disable_compression;        /* nonzero: do not ask for zstd-compressed frames */
  const ecsdb_filter* filters;    /* filter_count filters: only the rows they all admit (per table) */
  size_t filter_count;
} ecsdb_replica_options;

typedef struct ecsdb_replica_stats {
  uint64_t version;               /* server version of the newest applied state */
  uint64_t frames;                /* DELTA frames applied */
  uint64_t duplicates;            /* frames ignored as already applied */
  uint64_t bytes_received;
  uint64_t full_syncs;
  uint64_t resumes;
  uint64_t reconnects;
  uint64_t lag_p50_us;            /* server publish -> applied here, CLOCK_REALTIME on both sides */
  uint64_t lag_p99_us;
  uint64_t lag_max_us;
  int connected;                  /* 1 while connected, 0 while reconnecting or stopped */
  uint64_t bytes_uncompressed;    /* the frames received after zstd (= bytes_received without it) */
} ecsdb_replica_stats;

typedef struct ecsdb_field_info {
  const char* name;               /* valid until ecsdb_replica_close */
  const char* type;               /* as the schema spells it: "f32", "u32", "str<16>", "entity", "[f32; 3]", "Vec3" */
  int id;                         /* declaration order (the field index); bit `id` of field masks */
  int kind;                       /* ECSDB_TYPE_* */
  int scalar;                     /* ECSDB_SCALAR_*: of a scalar, of an enum's integer, of an array's scalar
                                     elements; ECSDB_SCALAR_U64 for an entity; -1 otherwise */
  uint32_t offset;                /* byte offset in the row; 0 and meaningless when `stored` is 0 */
  uint32_t size;                  /* bytes */
  uint32_t length;                /* arrays: element count; strings: capacity in bytes; 0 otherwise */
  int stored;                     /* 1: in the row bytes; 0: the owner key or an entity-table field (not in rows) */
  int is_owner_key;               /* 1: the entity that owns the row (the key of `one` rows, the owner of `many`) */
} ecsdb_field_info;

/* A committed write of this replica whose fields another commit overwrote before this replica received the
 * version with the write (last writer wins): the replica already holds the winner's values. */
typedef struct ecsdb_overwritten {
  uint64_t request;               /* ecsdb_replica_submit's request id */
  uint64_t version;               /* the replica's version when it was told */
  uint64_t key;                   /* the row */
  uint64_t field_mask;            /* the fields whose values differ from the write (bit = field id) */
  int table;                      /* table id */
} ecsdb_overwritten;

ECSDB_CLIENT_API uint32_t ecsdb_client_abi_version(void);
/* "not found", "permission denied", ...; "unknown" for other values. A static string. */
ECSDB_CLIENT_API const char* ecsdb_status_name(int code);

/* ---- connection ---- */

/* Connects, authenticates, subscribes and applies the first full sync before it returns (like
 * ecsdb::Replica::connect); afterwards a background thread follows the server and reconnects on its own.
 * On success *out is the replica and 0 is returned; otherwise *out is NULL and the code is the server's
 * reason (ECSDB_PERMISSION_DENIED, ECSDB_NOT_FOUND for an unknown table, ECSDB_FAILED_PRECONDITION) or
 * ECSDB_DEADLINE_EXCEEDED (nobody listening, no sync in time), with the message in `error`. */
ECSDB_CLIENT_API int ecsdb_replica_connect(const ecsdb_replica_options* options, ecsdb_replica** out, char* error,
                                           size_t error_size);
/* Disconnects, stops the thread and frees the replica (once its last view is released). Requests not yet
 * answered are forgotten. NULL: nothing. */
ECSDB_CLIENT_API void ecsdb_replica_close(ecsdb_replica* replica);

/* Replaces the subscription on the live connection: the server sends only the difference (rows now
 * selected arrive, rows no longer selected go). Tables and filters as in ecsdb_replica_options. A filter the
 * server refuses stops the replica (ecsdb_replica_status says why); ECSDB_INVALID_ARGUMENT for a filter
 * malformed here, ECSDB_NOT_FOUND for an unknown table, ECSDB_UNAVAILABLE when disconnected (it then
 * applies at the next connection). */
ECSDB_CLIENT_API int ecsdb_replica_set_subscription(ecsdb_replica* replica, const char* const* tables,
                                                    size_t table_count, const ecsdb_filter* filters,
                                                    size_t filter_count, char* error, size_t error_size);

/* The server version the replica holds (0 for NULL). */
ECSDB_CLIENT_API uint64_t ecsdb_replica_version(const ecsdb_replica* replica);
/* Waits until the replica holds `version` or newer: 1 when it does, 0 on timeout or when it stopped. */
ECSDB_CLIENT_API int ecsdb_replica_wait_version(const ecsdb_replica* replica, uint64_t version, uint32_t timeout_ms);
/* 1 when the replica's version changed since the previous poll on this handle (the first poll always says
 * 1), else 0; *version (when not NULL) receives the current version either way. Engines call it once per
 * frame and re-read what they show when it says 1. */
ECSDB_CLIENT_API int ecsdb_replica_poll(ecsdb_replica* replica, uint64_t* version);
/* 0 while the replica runs (connected or reconnecting); otherwise the error that stopped it for good (refused
 * by the server, a schema mismatch, a frame it could not apply): the local copy stays readable. */
ECSDB_CLIENT_API int ecsdb_replica_status(const ecsdb_replica* replica, char* error, size_t error_size);
ECSDB_CLIENT_API int ecsdb_replica_get_stats(const ecsdb_replica* replica, ecsdb_replica_stats* out);

/* ---- layout (the server's schema); table ids are 0 .. ecsdb_replica_table_count - 1 ---- */

ECSDB_CLIENT_API int ecsdb_replica_table_count(const ecsdb_replica* replica);
/* The table's id, or -1 when there is no such table. */
ECSDB_CLIENT_API int ecsdb_replica_table(const ecsdb_replica* replica, const char* name);
/* NULL for a bad id. The entity registry ("entities") is a table too: it has no rows. */
ECSDB_CLIENT_API const char* ecsdb_replica_table_name(const ecsdb_replica* replica, int table);
/* Bytes per row; 0 for a table without stored fields (a tag) or a bad id. */
ECSDB_CLIENT_API uint32_t ecsdb_replica_table_stride(const ecsdb_replica* replica, int table);
/* ECSDB_CARDINALITY_ONE or _MANY; -1 for a bad id. */
ECSDB_CLIENT_API int ecsdb_replica_table_cardinality(const ecsdb_replica* replica, int table);
/* Fields in declaration order, stored or not; -1 for a bad id. */
ECSDB_CLIENT_API int ecsdb_replica_field_count(const ecsdb_replica* replica, int table);
/* The field's id (its index), or -1. */
ECSDB_CLIENT_API int ecsdb_replica_field_index(const ecsdb_replica* replica, int table, const char* name);
/* Fills *out with field `field_index` (declaration order, == its id): 0, or ECSDB_INVALID_ARGUMENT. */
ECSDB_CLIENT_API int ecsdb_replica_field(const ecsdb_replica* replica, int table, int field_index,
                                         ecsdb_field_info* out);

/* ---- reading: views ---- */

/* A consistent snapshot of every table at the replica's current version (NULL for a NULL replica). */
ECSDB_CLIENT_API ecsdb_view* ecsdb_replica_pin(const ecsdb_replica* replica);
ECSDB_CLIENT_API void ecsdb_view_release(ecsdb_view* view);
ECSDB_CLIENT_API uint64_t ecsdb_view_version(const ecsdb_view* view);
/* Live entities. */
ECSDB_CLIENT_API uint64_t ecsdb_view_entity_count(const ecsdb_view* view);
/* 1 when `entity` (generation << 32 | index) is alive in the view. */
ECSDB_CLIENT_API int ecsdb_view_alive(const ecsdb_view* view, uint64_t entity);
/* Rows of a table (0 for a bad id). Rows 0 .. count-1 are dense, in the replica's row order (which may
 * differ from the server's). */
ECSDB_CLIENT_API uint32_t ecsdb_view_row_count(const ecsdb_view* view, int table);
/* Row `index`: its key, its owner (`many` tables: the owning entity; 0 for `one` tables, whose key is the
 * entity) and its bytes (NULL for a table without stored fields). Any out pointer may be NULL. 0, or
 * ECSDB_NOT_FOUND past the last row, ECSDB_INVALID_ARGUMENT for a NULL view or a bad table. */
ECSDB_CLIENT_API int ecsdb_view_row_at(const ecsdb_view* view, int table, uint32_t index, uint64_t* key,
                                       uint64_t* owner, const void** bytes);
/* The row of `key` (an entity for `one` tables, a RowId for `many`), or NULL when absent, stale, or the
 * table has no stored fields (test those with ecsdb_view_has). */
ECSDB_CLIENT_API const void* ecsdb_view_get(const ecsdb_view* view, int table, uint64_t key);
/* 1 when the table has a row for `key`. */
ECSDB_CLIENT_API int ecsdb_view_has(const ecsdb_view* view, int table, uint64_t key);

/* ---- writing ----
 * A write collects operations, sent as one transaction that commits whole or not at all. Tables are named;
 * rows are whole row images of `size` == the table's stride (checked at submit: ECSDB_INVALID_ARGUMENT). The
 * ecsdb_write_* builders return 0, or ECSDB_INVALID_ARGUMENT for NULL arguments. */

ECSDB_CLIENT_API ecsdb_write* ecsdb_write_new(void);
ECSDB_CLIENT_API void ecsdb_write_free(ecsdb_write* write);
/* Adds or replaces the row of `entity` in a `one` table. */
ECSDB_CLIENT_API int ecsdb_write_put(ecsdb_write* write, const char* table, uint64_t entity, const void* row,
                                     size_t size);
/* Writes the fields in `field_mask` (bit = field id) of the row of `key`, taken from the row image `row`. */
ECSDB_CLIENT_API int ecsdb_write_update(ecsdb_write* write, const char* table, uint64_t key, uint64_t field_mask,
                                        const void* row, size_t size);
ECSDB_CLIENT_API int ecsdb_write_remove(ecsdb_write* write, const char* table, uint64_t key);
/* Destroys an entity (and its rows in every table, per the schema's on_delete rules). */
ECSDB_CLIENT_API int ecsdb_write_destroy(ecsdb_write* write, uint64_t entity);
/* A new row of a `many` table, owned by `owner`. */
ECSDB_CLIENT_API int ecsdb_write_insert(ecsdb_write* write, const char* table, uint64_t owner, const void* row,
                                        size_t size);

/* Sends the write to the server and returns its request id (never 0; 0 for NULL arguments). The write is
 * never applied locally: it arrives, like everyone's, with the version that holds it. Wait on every request
 * (or forget it): the replica keeps each until its answer has been returned. */
ECSDB_CLIENT_API uint64_t ecsdb_replica_submit(ecsdb_replica* replica, const ecsdb_write* write);
/* Waits up to timeout_ms (0: only looks) for the answer to `request`. Returns 0 when committed (*version,
 * when not NULL, receives the server version that holds it: ecsdb_replica_wait_version for it to be read
 * here), the StatusCode when rejected (message in `error`; ECSDB_UNAVAILABLE when disconnected, and then it
 * may or may not have committed), ECSDB_WRITE_PENDING on timeout (the request stays), ECSDB_WRITE_UNKNOWN
 * when there is no such request. Once answered, the request is forgotten. */
ECSDB_CLIENT_API int ecsdb_replica_write_wait(ecsdb_replica* replica, uint64_t request, uint32_t timeout_ms,
                                              uint64_t* version, char* error, size_t error_size);
/* Drops a request whose answer does not matter (fire and forget). */
ECSDB_CLIENT_API void ecsdb_replica_write_forget(ecsdb_replica* replica, uint64_t request);
/* Moves up to `capacity` overwritten notices, oldest first, into out[] and returns how many; notices that do
 * not fit stay for the next call. With out NULL or capacity 0, returns how many are waiting. */
ECSDB_CLIENT_API size_t ecsdb_replica_take_overwritten(ecsdb_replica* replica, ecsdb_overwritten* out,
                                                       size_t capacity);

/* NOLINTEND(readability-identifier-naming) */

#ifdef __cplusplus
}  /* extern "C" */
#endif

#endif /* ECSDB_ECSDB_CLIENT_H_ */
