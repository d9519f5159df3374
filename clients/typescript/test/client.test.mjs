// The built client against a running Perimeter API: `node --test test/` after `tsc -p .`.
// Env: PERIMETER_BASE_URL, PERIMETER_API_KEY; PERIMETER_TEST_TARGET/PERIMETER_TEST_PORT name a loopback
// host and an open port to port-scan (the API must allow that target); PERIMETER_CLIENT_DIST overrides
// where the compiled client is (default ../dist/index.js).
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";

const dist = process.env.PERIMETER_CLIENT_DIST ?? new URL("../dist/index.js", import.meta.url).href;
const { PerimeterClient, PerimeterError, API_VERSION } = await import(dist);
const baseUrl = process.env.PERIMETER_BASE_URL;
const apiKey = process.env.PERIMETER_API_KEY;
const target = process.env.PERIMETER_TEST_TARGET ?? "127.0.0.1";
const port = Number(process.env.PERIMETER_TEST_PORT ?? "0");
const skip = baseUrl && apiKey ? false : "PERIMETER_BASE_URL and PERIMETER_API_KEY are not set";
const TERMINAL = new Set(["complete", "failed", "cancelled"]);

const client = () => new PerimeterClient({ baseUrl, apiKey });

async function rejection(promise) {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail("the call succeeded; a PerimeterError was expected");
}

async function finished(api, token, seconds = 120) {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const scan = await api.getScan(token);
    if (TERMINAL.has(scan.status) || Date.now() > deadline) return scan;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

test("health and the OpenAPI document match the generated client", { skip }, async () => {
  const api = client();
  const health = await api.getHealth();
  assert.equal(health.status, "ok");
  assert.equal(health.version, API_VERSION);
  const doc = await api.getOpenApi();
  assert.equal(doc.openapi, "3.1.0");
  const served = Object.values(doc.paths).flatMap((item) => Object.values(item).map((op) => op.operationId));
  const methods = Object.getOwnPropertyNames(PerimeterClient.prototype).filter((name) => name !== "constructor");
  assert.deepEqual([...methods].sort(), [...served].sort());
});

test("a loopback port scan: create (idempotent), get, wait, list, findings", { skip }, async () => {
  const api = client();
  const body = { target, scan_type: "ports", options: { ports: String(port) }, tags: ["ts-client"] };
  const key = `ts-client-${Date.now()}`;
  const created = await api.createScan(body, { idempotencyKey: key });
  assert.match(created.scan_token, /^\S+$/);
  assert.equal(created.status, "pending");
  const replayed = await api.createScan(body, { idempotencyKey: key });
  assert.equal(replayed.scan_token, created.scan_token, "the same Idempotency-Key must replay the first answer");
  const other = await api.createScan(body);
  assert.notEqual(other.scan_token, created.scan_token, "each call without a key is a new scan");

  const first = await api.getScan(created.scan_token);
  assert.equal(first.scan_token, created.scan_token);
  assert.equal(first.target, target);
  assert.deepEqual(first.tags, ["ts-client"]);

  const scan = await finished(api, created.scan_token);
  assert.equal(scan.status, "complete", JSON.stringify(scan.error));
  const listed = scan.signals.scan.findings.map((finding) => finding.evidence.port);
  assert.ok(listed.includes(port), `port ${port} missing from ${JSON.stringify(listed)}`);

  const page = await api.listScans({ tag: "ts-client", limit: 100 });
  const tokens = page.items.map((item) => item.scan_token);
  assert.ok(tokens.includes(created.scan_token) && tokens.includes(other.scan_token), tokens.join(","));
  assert.ok(!tokens.includes(undefined));
  const complete = await api.listScans({ status: "complete", limit: 100 });
  assert.ok(complete.items.every((item) => item.status === "complete"));
  assert.ok(complete.items.some((item) => item.scan_token === created.scan_token));

  const findings = await api.listFindings(created.scan_token, { signal: "scan" });
  assert.ok(findings.items.length > 0 && findings.items.every((finding) => finding.signal === "scan"));

  const link = await api.getScanReport(created.scan_token, { format: "json" });
  assert.equal(link.format, "json");
  const report = Buffer.from(await (await fetch(link.url)).arrayBuffer());
  assert.equal(createHash("sha256").update(report).digest("hex"), link.sha256);
  assert.ok(JSON.stringify(JSON.parse(report.toString("utf8"))).includes(created.scan_token));
});

test("problem+json answers surface as PerimeterError with their code", { skip }, async () => {
  const missing = await rejection(client().getScan("no-such-scan-token"));
  assert.ok(missing instanceof PerimeterError, String(missing));
  assert.equal(missing.status, 404);
  assert.equal(missing.code, "scan-not-found");
  assert.equal(missing.problem.code, missing.code);
  assert.equal(missing.problem.status, 404);
  assert.match(missing.message, /^404 scan-not-found: /);

  const invalid = await rejection(client().createScan({ target, scan_type: "ports", options: { ports: "not ports" } }));
  assert.ok(invalid instanceof PerimeterError);
  assert.equal(invalid.status, 422);
  assert.match(invalid.code, /^[a-z]+(-[a-z]+)*$/);
  assert.ok(Array.isArray(invalid.problem.errors) && invalid.problem.errors.length > 0);

  const bad = new PerimeterClient({ baseUrl, apiKey: "pk_not_a_real_key" });
  const unauthorized = await rejection(bad.listScans());
  assert.ok(unauthorized instanceof PerimeterError);
  assert.equal(unauthorized.status, 401);
  assert.equal(unauthorized.code, unauthorized.problem.code);
  assert.ok(!unauthorized.message.includes("pk_not_a_real_key"), "the key must not be echoed");
});

test("X-API-Key authentication works like the bearer token", { skip }, async () => {
  const viaHeader = new PerimeterClient({ baseUrl, apiKey, auth: "x-api-key" });
  const page = await viaHeader.listScans({ limit: 1 });
  assert.ok(Array.isArray(page.items));
  const noKey = new PerimeterClient({ baseUrl });
  await assert.rejects(noKey.listScans(), TypeError);
  assert.equal((await noKey.getHealth()).status, "ok", "public operations need no key");
});
