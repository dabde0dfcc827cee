#include "bench/peers/flecs_peer.h"

#include <stdlib.h>

#include "flecs.h"

typedef struct {
  float x, y, z;
} FpTransform;

typedef struct {
  uint32_t hp, max_hp;
} FpHealth;

struct flecs_peer {
  ecs_world_t* world;
  ecs_entity_t transform;
  ecs_entity_t health;
  ecs_query_t* q_transform;
  ecs_query_t* q_both;
  ecs_entity_t* entities; /* the world's entities, in creation order */
  size_t count;
  ecs_entity_t* created;  /* flecs_peer_create_many's, until deleted */
  size_t created_count;
  size_t created_capacity;
};

/* The values ECSDb's suites give entity number i (bench/suites/bench_schema.hpp). */
static FpTransform transform_of(size_t i) {
  const float f = (float)(i % 1024) / 1024.0f;
  FpTransform t = {f, 1.0f - f, f * 0.5f};
  return t;
}
static FpHealth health_of(size_t i) {
  FpHealth h = {(uint32_t)(50 + i % 51), 100};
  return h;
}

static ecs_entity_t new_with_both(flecs_peer* p, size_t i) {
  const ecs_entity_t e = ecs_new(p->world);
  const FpTransform t = transform_of(i);
  const FpHealth h = health_of(i);
  ecs_set_id(p->world, e, p->transform, sizeof t, &t);
  ecs_set_id(p->world, e, p->health, sizeof h, &h);
  return e;
}

flecs_peer* flecs_peer_create(size_t n) {
  flecs_peer* p = calloc(1, sizeof *p);
  if (p == NULL) abort();
  p->world = ecs_init();
  ECS_COMPONENT(p->world, FpTransform);
  ECS_COMPONENT(p->world, FpHealth);
  p->transform = ecs_id(FpTransform);
  p->health = ecs_id(FpHealth);
  /* Cached queries: flecs's fastest iteration (the matched tables are kept, not searched per iteration). */
  p->q_transform = ecs_query(p->world, {.terms = {{.id = ecs_id(FpTransform)}}, .cache_kind = EcsQueryCacheAuto});
  p->q_both = ecs_query(p->world, {.terms = {{.id = ecs_id(FpTransform)}, {.id = ecs_id(FpHealth)}},
                                   .cache_kind = EcsQueryCacheAuto});
  p->entities = malloc(n * sizeof *p->entities);
  if (p->entities == NULL && n != 0) abort();
  for (size_t i = 0; i < n; ++i) p->entities[i] = new_with_both(p, i);
  p->count = n;
  return p;
}

void flecs_peer_destroy(flecs_peer* p) {
  ecs_fini(p->world);
  free(p->entities);
  free(p->created);
  free(p);
}

uint64_t flecs_peer_read_hp(const flecs_peer* p, const uint32_t* indexes, size_t count) {
  uint64_t sum = 0;
  for (size_t i = 0; i < count; ++i) {
    const FpHealth* h = ecs_get_id(p->world, p->entities[indexes[i]], p->health);
    sum += h != NULL ? h->hp : 0;
  }
  return sum;
}

void flecs_peer_set_hp(flecs_peer* p, const uint32_t* indexes, size_t count, uint32_t first) {
  for (size_t i = 0; i < count; ++i) {
    const ecs_entity_t e = p->entities[indexes[i]];
    FpHealth* h = ecs_get_mut_id(p->world, e, p->health);
    h->hp = first + (uint32_t)i;
    ecs_modified_id(p->world, e, p->health);
  }
}

void flecs_peer_create_many(flecs_peer* p, size_t count) {
  if (p->created_count + count > p->created_capacity) {
    p->created_capacity = p->created_count + count;
    p->created = realloc(p->created, p->created_capacity * sizeof *p->created);
    if (p->created == NULL) abort();
  }
  for (size_t i = 0; i < count; ++i) p->created[p->created_count++] = new_with_both(p, p->count + i);
}

void flecs_peer_remove_health_created(flecs_peer* p) {
  for (size_t i = 0; i < p->created_count; ++i) ecs_remove_id(p->world, p->created[i], p->health);
}

void flecs_peer_add_health_created(flecs_peer* p) {
  for (size_t i = 0; i < p->created_count; ++i) {
    const FpHealth h = health_of(i);
    ecs_set_id(p->world, p->created[i], p->health, sizeof h, &h);
  }
}

void flecs_peer_delete_created(flecs_peer* p) {
  for (size_t i = 0; i < p->created_count; ++i) ecs_delete(p->world, p->created[i]);
  p->created_count = 0;
}

size_t flecs_peer_created(const flecs_peer* p) { return p->created_count; }

uint64_t flecs_peer_scan(const flecs_peer* p, float threshold, size_t* rows) {
  uint64_t hits = 0;
  size_t visited = 0;
  ecs_iter_t it = ecs_query_iter(p->world, p->q_transform);
  while (ecs_query_next(&it)) {
    const FpTransform* t = ecs_field(&it, FpTransform, 0);
    for (int32_t i = 0; i < it.count; ++i) hits += (t[i].x + t[i].y + t[i].z) > threshold;
    visited += (size_t)it.count;
  }
  *rows = visited;
  return hits;
}

void flecs_peer_move_all(flecs_peer* p, float step, size_t* rows) {
  size_t visited = 0;
  ecs_iter_t it = ecs_query_iter(p->world, p->q_transform);
  while (ecs_query_next(&it)) {
    FpTransform* t = ecs_field(&it, FpTransform, 0);
    for (int32_t i = 0; i < it.count; ++i) t[i].x += step;
    visited += (size_t)it.count;
  }
  *rows = visited;
}

uint64_t flecs_peer_scan2(const flecs_peer* p, float threshold, size_t* rows) {
  uint64_t sum = 0;
  size_t visited = 0;
  ecs_iter_t it = ecs_query_iter(p->world, p->q_both);
  while (ecs_query_next(&it)) {
    const FpTransform* t = ecs_field(&it, FpTransform, 0);
    const FpHealth* h = ecs_field(&it, FpHealth, 1);
    for (int32_t i = 0; i < it.count; ++i) sum += (t[i].x + t[i].y + t[i].z) > threshold ? h[i].hp : 0;
    visited += (size_t)it.count;
  }
  *rows = visited;
  return sum;
}
