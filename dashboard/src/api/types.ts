// Named aliases of the generated OpenAPI types (src/api/schema.d.ts, from docs/openapi.yaml by
// `npm run gen:api`). Everything the dashboard knows about the API's shapes comes from here, so a change
// of the spec that the dashboard does not follow fails `vue-tsc`.
import type { components, paths } from "./schema";

type Schemas = components["schemas"];

/** The JSON body of a 200 answer of `paths[P][M]`. */
export type Ok<P extends keyof paths, M extends "get" | "post"> = paths[P][M] extends {
  responses: { 200: { content: { "application/json": infer B } } };
}
  ? B
  : never;

/** The JSON request body of `paths[P]["post"]`. */
export type JsonBody<P extends keyof paths> = paths[P]["post"] extends {
  requestBody?: { content: { "application/json": infer B } };
}
  ? B
  : never;

export type Health = Ok<"/api/health", "get">;
export type Info = Ok<"/api/info", "get">;
export type SchemaDocument = Ok<"/api/schema", "get">;
export type SchemaValidation = Ok<"/api/schema/validate", "post">;
export type TableList = Ok<"/api/tables", "get">;
export type RowsPage = Ok<"/api/tables/{table}/rows", "get">;
export type EntityView = Ok<"/api/entities/{id}", "get">;
export type TransactionRequest = JsonBody<"/api/transactions">;
export type TransactionResult = Ok<"/api/transactions", "post">;
export type QueryRequest = JsonBody<"/api/query">;
export type QueryResult = Ok<"/api/query", "post">;
export type Metrics = Ok<"/api/metrics", "get">;
export type ReplicationClients = Ok<"/api/replication/clients", "get">;
export type SnapshotResult = Ok<"/api/snapshot", "post">;
export type WhoAmI = Ok<"/api/whoami", "get">;

export type ErrorBody = Schemas["ErrorBody"];
export type ErrorCode = Schemas["ErrorCode"];
export type ErrorDetails = Schemas["ErrorDetails"];
export type Table = Schemas["Table"];
export type Field = Schemas["Field"];
export type Struct = Schemas["Struct"];
export type Quantiles = Schemas["Quantiles"];
export type Enum = Schemas["Enum"];
export type Row = Schemas["Row"];
export type Values = Schemas["Values"];
export type Value = Schemas["Value"];
export type Op = Schemas["Op"];
export type SchemaDiagnostic = Schemas["SchemaDiagnostic"];
export type TableSummary = Schemas["TableSummary"];
export type ReplicationClient = Schemas["ReplicationClient"];
export type StateMessage = Schemas["StateMessage"];
export type DeltaMessage = Schemas["DeltaMessage"];
export type TableDelta = Schemas["TableDelta"];
export type StreamMessage = Schemas["StreamMessage"];
export type SubscribeMessage = Schemas["SubscribeMessage"];
/** How a stream starts: `full` with the rows of the followed tables, `none` with one row-less `state` naming the version. */
export type StreamStart = NonNullable<SubscribeMessage["state"]>;

/** The query parameters of `GET /api/tables/{table}/rows`. */
export interface RowsParams {
  limit?: number;
  after?: string | null;
  where?: string[];
  sort?: string | null;
  fields?: string[];
  version?: number | null;
}
