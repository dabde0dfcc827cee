/* c_replica — a replica through the C ABI (include/ecsdb/ecsdb_client.h; docs/replication.md, "C ABI").
 *
 *   c_replica HOST:PORT [TABLE [--bump]]
 *
 * Connects (token from $ECSDB_TOKEN), prints the version and every table with its stride, then the first
 * rows of TABLE with their f32 and u32 fields decoded through the field info. --bump adds 1 to the first
 * f32/u32 field of TABLE's first row, as one write, and prints the version that holds it. Serve something
 * first: build/ecsdb serve --schema examples/schemas/game.toml --data /tmp/world --repl 127.0.0.1:7070
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ecsdb/ecsdb_client.h"

static int is_f32(const ecsdb_field_info* f) { return f->kind == ECSDB_TYPE_SCALAR && f->scalar == ECSDB_SCALAR_F32; }
static int is_u32(const ecsdb_field_info* f) { return f->kind == ECSDB_TYPE_SCALAR && f->scalar == ECSDB_SCALAR_U32; }

/* "index:generation  name=value ...": stored fields only (the owner key is the row's key, not its bytes). */
static void print_row(const ecsdb_replica* r, int table, uint64_t key, const void* bytes) {
  printf("  %u:%u", (unsigned)(key & 0xffffffffu), (unsigned)(key >> 32));
  for (int i = 0; i < ecsdb_replica_field_count(r, table); ++i) {
    ecsdb_field_info f;
    if (ecsdb_replica_field(r, table, i, &f) != ECSDB_OK || !f.stored) continue;
    const char* at = (const char*)bytes + f.offset;
    if (is_f32(&f)) {
      float v;
      memcpy(&v, at, sizeof v);
      printf("  %s=%g", f.name, (double)v);
    } else if (is_u32(&f)) {
      uint32_t v;
      memcpy(&v, at, sizeof v);
      printf("  %s=%u", f.name, (unsigned)v);
    } else {
      printf("  %s=<%s>", f.name, f.type);
    }
  }
  printf("\n");
}

/* Adds 1 to the first f32/u32 field of the table's first row: an update of that one field. */
static int bump(ecsdb_replica* r, const ecsdb_view* v, int table) {
  uint64_t key = 0;
  const void* bytes = NULL;
  ecsdb_field_info f;
  int found = 0;
  for (int i = 0; i < ecsdb_replica_field_count(r, table) && !found; ++i) {
    found = ecsdb_replica_field(r, table, i, &f) == ECSDB_OK && f.stored && (is_f32(&f) || is_u32(&f));
  }
  if (!found || ecsdb_view_row_at(v, table, 0, &key, NULL, &bytes) != ECSDB_OK) {
    fprintf(stderr, "c_replica: no row with an f32 or u32 field to bump\n");
    return 1;
  }
  const uint32_t stride = ecsdb_replica_table_stride(r, table);
  unsigned char* row = malloc(stride);
  if (row == NULL) return 1;
  memcpy(row, bytes, stride); /* a whole row image; only the masked field is written */
  if (is_f32(&f)) {
    float x;
    memcpy(&x, row + f.offset, sizeof x);
    x += 1.0f;
    memcpy(row + f.offset, &x, sizeof x);
  } else {
    uint32_t x;
    memcpy(&x, row + f.offset, sizeof x);
    x += 1;
    memcpy(row + f.offset, &x, sizeof x);
  }
  ecsdb_write* w = ecsdb_write_new();
  ecsdb_write_update(w, ecsdb_replica_table_name(r, table), key, UINT64_C(1) << f.id, row, stride);
  const uint64_t request = ecsdb_replica_submit(r, w);
  ecsdb_write_free(w); /* submit copied it */
  free(row);
  char error[512];
  uint64_t version = 0;
  if (ecsdb_replica_write_wait(r, request, 5000, &version, error, sizeof error) != ECSDB_OK) {
    fprintf(stderr, "c_replica: write: %s\n", error);
    return 1;
  }
  printf("bumped %s: committed at version %llu\n", f.name, (unsigned long long)version);
  return 0;
}

int main(int argc, char** argv) {
  const char* colon = argc >= 2 ? strrchr(argv[1], ':') : NULL;
  char host[256];
  if (colon == NULL || colon == argv[1] || (size_t)(colon - argv[1]) >= sizeof host) {
    fprintf(stderr, "usage: c_replica HOST:PORT [TABLE [--bump]]\n");
    return 2;
  }
  memcpy(host, argv[1], (size_t)(colon - argv[1]));
  host[colon - argv[1]] = '\0';

  ecsdb_replica_options o = {0}; /* zero fields take the defaults */
  o.host = host;
  o.port = (uint16_t)atoi(colon + 1);
  o.token = getenv("ECSDB_TOKEN");
  char error[512];
  ecsdb_replica* r = NULL;
  if (ecsdb_replica_connect(&o, &r, error, sizeof error) != ECSDB_OK) {
    fprintf(stderr, "c_replica: %s\n", error);
    return 1;
  }
  ecsdb_view* v = ecsdb_replica_pin(r); /* one consistent version for everything printed */
  printf("version %llu\n", (unsigned long long)ecsdb_view_version(v));
  for (int t = 0; t < ecsdb_replica_table_count(r); ++t) {
    printf("table %s: stride %u, %s, %u rows\n", ecsdb_replica_table_name(r, t), (unsigned)ecsdb_replica_table_stride(r, t),
           ecsdb_replica_table_cardinality(r, t) == ECSDB_CARDINALITY_MANY ? "many" : "one",
           (unsigned)ecsdb_view_row_count(v, t));
  }
  int status = 0;
  const int table = argc >= 3 ? ecsdb_replica_table(r, argv[2]) : -1;
  if (argc >= 3 && table < 0) {
    fprintf(stderr, "c_replica: no table '%s'\n", argv[2]);
    status = 2;
  } else if (table >= 0) {
    for (uint32_t i = 0; i < ecsdb_view_row_count(v, table) && i < 5; ++i) {
      uint64_t key = 0;
      const void* bytes = NULL;
      ecsdb_view_row_at(v, table, i, &key, NULL, &bytes);
      print_row(r, table, key, bytes); /* bytes: NULL for a table without stored fields */
    }
    if (argc >= 4 && strcmp(argv[3], "--bump") == 0) status = bump(r, v, table);
  }
  ecsdb_view_release(v);
  ecsdb_replica_close(r);
  return status;
}
