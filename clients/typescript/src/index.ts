// The Perimeter TypeScript client: `new PerimeterClient({ baseUrl, apiKey })`, one method per operation.
export * from "./client.js";
export * from "./runtime.js";
export type * from "./types.js";
