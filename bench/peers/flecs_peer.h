/* FlecsPeer: the txn suite's ECS workload run by flecs (https://github.com/SanderMertens/flecs), built from
 * the C sources of the flecs_ecs_sys crate that `cargo fetch` brings into build/ (bench/peers/flecs/, the
 * version pinned by its Cargo.lock; nothing vendored). Written in C because flecs's C API is macros over C99
 * compound literals; the C++ suite calls these functions.
 *
 * Components: FpTransform {x, y, z: f32} and FpHealth {hp, max_hp: u32}, the layouts of ECSDb's transform and
 * health. Entities are numbered in creation order: the `index` arguments are those numbers.
 *
 * Thread-safety: none; one thread uses a peer. Errors abort inside flecs (a benchmark with a failing peer
 * is void). */
#ifndef ECSDB_BENCH_FLECS_PEER_H
#define ECSDB_BENCH_FLECS_PEER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct flecs_peer flecs_peer;

/* A world with `n` entities, each with an FpTransform and an FpHealth set (the same values as ECSDb's). */
flecs_peer* flecs_peer_create(size_t n);
void flecs_peer_destroy(flecs_peer* p);

/* Sum of hp of the entities numbered indexes[0..count) (ecs_get_id each). */
uint64_t flecs_peer_read_hp(const flecs_peer* p, const uint32_t* indexes, size_t count);
/* Sets hp of those entities to first, first + 1, ... (ecs_get_mut_id + ecs_modified_id: a change observers see). */
void flecs_peer_set_hp(flecs_peer* p, const uint32_t* indexes, size_t count, uint32_t first);
/* Creates `count` entities with both components (ecs_new + two ecs_set_id each), remembered as "created". */
void flecs_peer_create_many(flecs_peer* p, size_t count);
/* Removes FpHealth from every created entity (ecs_remove_id each), then adds it back (ecs_set_id each). */
void flecs_peer_remove_health_created(flecs_peer* p);
void flecs_peer_add_health_created(flecs_peer* p);
/* Deletes the created entities (ecs_delete each) and forgets them. */
void flecs_peer_delete_created(flecs_peer* p);
/* Entities created by flecs_peer_create_many and not deleted yet. */
size_t flecs_peer_created(const flecs_peer* p);

/* Rows with x + y + z > threshold, over a cached query of FpTransform; the rows visited in *rows. */
uint64_t flecs_peer_scan(const flecs_peer* p, float threshold, size_t* rows);
/* Sum of hp of the rows with x + y + z > threshold, over a cached query of FpTransform and FpHealth. */
uint64_t flecs_peer_scan2(const flecs_peer* p, float threshold, size_t* rows);
/* Adds `step` to every transform's x through the same query (a system that moves every entity). */
void flecs_peer_move_all(flecs_peer* p, float step, size_t* rows);

#ifdef __cplusplus
}
#endif

#endif
