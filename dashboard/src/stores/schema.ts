// The schema the server runs (GET /api/schema), loaded once per session and on demand, with the lookups
// the views need: tables by name, enums, the component tables a query may name.
import { defineStore } from "pinia";
import { computed, ref, shallowRef } from "vue";
import type { Field, SchemaDocument, SchemaValidation, Table } from "../api/types";
import { toApiError } from "../api/errors";
import { useAuthStore } from "./auth";
import { useNoticesStore } from "./notices";

/** The entity registry: the root table with one row per entity that the others hang from. */
export function registryTable(tables: readonly Table[]): Table | undefined {
  const parents = new Set(tables.map((t) => t.parent_table).filter((p): p is string => p !== null));
  return tables.find((t) => parents.has(t.name) && t.parent_table === null) ?? tables.find((t) => t.name === "entities");
}

/** The fields a row shows in `values` (stored, not the owner key). */
export function valueFields(table: Table): Field[] {
  return table.fields.filter((f) => !f.owner_key && f.stored);
}

export const useSchemaStore = defineStore("schema", () => {
  const auth = useAuthStore();
  const notices = useNoticesStore();
  const schema = shallowRef<SchemaDocument | null>(null);
  const loading = ref(false);
  let pending: Promise<void> | null = null;

  async function load(force = false): Promise<void> {
    if (schema.value !== null && !force) return;
    if (pending !== null) return pending;
    loading.value = true;
    pending = (async () => {
      try {
        schema.value = await auth.api.schema();
      } catch (e) {
        notices.error(e, "loading the schema");
      } finally {
        loading.value = false;
        pending = null;
      }
    })();
    return pending;
  }

  const tables = computed<Table[]>(() => schema.value?.tables ?? []);
  const enums = computed(() => schema.value?.enums ?? []);
  const structs = computed(() => schema.value?.structs ?? []);
  const registry = computed(() => registryTable(tables.value));
  /** Tables a query may name: cardinality one, not the registry. */
  const componentTables = computed(() => tables.value.filter((t) => t.cardinality === "one" && t.name !== registry.value?.name));

  const validation = shallowRef<SchemaValidation | null>(null);
  const validationError = ref<string | null>(null);
  let validating = 0;

  /** Validates a schema text on the server; keeps the newest answer (older ones that arrive late are dropped). */
  async function validate(toml: string): Promise<SchemaValidation | null> {
    const n = ++validating;
    try {
      const result = await auth.api.validateSchema(toml);
      if (n === validating) {
        validation.value = result;
        validationError.value = null;
      }
      return result;
    } catch (e) {
      if (n === validating) validationError.value = toApiError(e).describe();
      return null;
    }
  }

  function table(name: string | null | undefined): Table | undefined {
    return name === null || name === undefined ? undefined : tables.value.find((t) => t.name === name);
  }

  return { schema, loading, load, validation, validationError, validate, tables, enums, structs, registry, componentTables, table };
});
