// Compile-time checks of the generated types (tsc -p test/tsconfig.json; nothing runs). Every
// `@ts-expect-error` line must be a type error, or tsc reports the directive as unused.
import { PerimeterClient, PerimeterError } from "../src/index.js";
import type { Finding, Problem, ScanView, Severity } from "../src/index.js";

const api = new PerimeterClient({ baseUrl: "http://127.0.0.1:1", apiKey: "k", auth: "x-api-key" });

export async function usage(): Promise<void> {
  const created = await api.createScan({ domain: "example.com", tags: ["ci"] }, { idempotencyKey: "k-1" });
  const token: string = created.scan_token;
  const scan: ScanView = await api.getScan(token);
  const score: number | null = scan.score;
  const findings: Finding[] = scan.signals["scan"]?.findings ?? [];
  const severities: Severity[] = findings.map((finding) => finding.severity);
  const page = await api.listScans({ status: "complete", limit: 10, cursor: null });
  const next: string | null = page.next_cursor;
  const nothing: void = await api.deleteWebhook("wh_1");
  const bytes: ArrayBuffer = await api.download("link-token");
  const link = await api.getScanReport(token, { format: "json" });
  const sha: string = link.sha256;
  try {
    await api.cancelScan(token);
  } catch (error) {
    if (error instanceof PerimeterError) {
      const code: string = error.code;
      const problem: Problem | null = error.problem;
      const status: number = error.status;
      void [code, problem, status];
    }
  }
  void [score, severities, next, nothing, bytes, sha];

  // @ts-expect-error CreateScan has no property `domian`
  await api.createScan({ domian: "example.com" });
  // @ts-expect-error `done` is not a ScanStatus
  await api.listScans({ status: "done" });
  // @ts-expect-error getScan needs the scan token
  await api.getScan();
  // @ts-expect-error the score is number | null
  const text: string = scan.score;
  // @ts-expect-error severities are a closed union
  const severe: Severity = "severe";
  // @ts-expect-error only POSTs take an Idempotency-Key
  await api.getScan(token, { idempotencyKey: "k-2" });
  // @ts-expect-error the auth scheme is bearer or x-api-key
  new PerimeterClient({ baseUrl: "http://127.0.0.1:1", auth: "basic" });
  void [text, severe];
}
