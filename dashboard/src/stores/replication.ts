// The replication clients (GET /api/replication/clients), polled while the view is open.
import { defineStore } from "pinia";
import { ref, shallowRef } from "vue";
import type { ReplicationClients } from "../api/types";
import { toApiError } from "../api/errors";
import { useAuthStore } from "./auth";

export const useReplicationStore = defineStore("replication", () => {
  const auth = useAuthStore();
  const clients = shallowRef<ReplicationClients | null>(null);
  const error = ref<string | null>(null);
  let timer: ReturnType<typeof setInterval> | null = null;

  async function refresh(): Promise<void> {
    try {
      clients.value = await auth.api.replicationClients();
      error.value = null;
    } catch (e) {
      error.value = toApiError(e).describe();
    }
  }

  function start(intervalMs = 2000): void {
    stop();
    void refresh();
    timer = setInterval(() => void refresh(), intervalMs);
  }

  function stop(): void {
    if (timer !== null) clearInterval(timer);
    timer = null;
  }

  return { clients, error, refresh, start, stop };
});
