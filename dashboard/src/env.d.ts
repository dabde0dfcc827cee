/// <reference types="vite/client" />
declare module "*.vue" {
  import type { DefineComponent } from "vue";
  const component: DefineComponent<object, object, unknown>;
  export default component;
}

interface ImportMetaEnv {
  /** Origin of the ECSDb server when the dashboard is not served by it (default: the page's origin). */
  readonly VITE_ECSDB_URL?: string;
}
