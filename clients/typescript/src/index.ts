// @ecsdb/client: the ECSDb replication client (docs/protocol.md) for browsers and Node.
export * from "./codec.js";
export * from "./layout.js";
export * from "./replica.js";
