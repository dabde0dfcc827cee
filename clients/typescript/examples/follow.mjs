// Follows an ECSDb server and prints what changes. Run from clients/typescript after `npm run build`:
//
//   ../../build/ecsdb serve --schema ../../examples/schemas/game.toml --durability memory &
//   node examples/follow.mjs ws://127.0.0.1:8080/api/replication
//
// then commit something (curl -X POST http://127.0.0.1:8080/api/transactions ...) and watch it arrive.
// Options: ECSDB_TOKEN=... for a server with tokens; SECONDS_TO_RUN=N to stop after N seconds.
import WebSocket from "ws"; // Node 20 has no global WebSocket; browsers need nothing here
import { Replica, formatKey } from "../dist/index.js"; // "@ecsdb/client" once installed as a package

const url = process.argv[2] ?? "ws://127.0.0.1:8080/api/replication";
const replica = await Replica.connect({ url, token: process.env.ECSDB_TOKEN, WebSocket });

const json = (v) => JSON.stringify(v, (_, x) => (typeof x === "bigint" ? x.toString() : x));
console.log(`synced at version ${replica.version}: ${replica.entities.size} entities, tables ${replica.tables.join(", ")}`);
for (const name of replica.tables) {
  for (const [key, row] of replica.table(name)) console.log(`  ${name} ${formatKey(key)} ${json(row.values)}`);
}

replica.on("change", (c) => {
  console.log(`${c.kind} ${c.fromVersion} -> ${c.toVersion}: +${c.created.length} -${c.destroyed.length} entities`);
  for (const [name, t] of Object.entries(c.tables)) {
    for (const row of t.inserted) console.log(`  ${name} inserted ${formatKey(row.key)} ${json(row.values)}`);
    for (const u of t.updated) console.log(`  ${name} updated ${formatKey(u.key)} ${json(u.changed)}`);
    for (const row of t.deleted) console.log(`  ${name} deleted ${formatKey(row.key)}`);
  }
});
replica.on("disconnect", (d) => console.log(`disconnected (${d.error.message})${d.willReconnect ? ", reconnecting" : ""}`));
replica.on("stop", (e) => e && console.error(`stopped: ${e.codeName}: ${e.message}`));

const seconds = Number(process.env.SECONDS_TO_RUN ?? 0);
if (seconds > 0) setTimeout(() => replica.close(), seconds * 1000);
process.on("SIGINT", () => replica.close());
