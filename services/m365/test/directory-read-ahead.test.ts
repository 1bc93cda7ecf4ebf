import test from "ava";
import moleculer from "moleculer";
import { DirectoryReadAhead } from "../src/directory-read-ahead.ts";
import type { DirectoryPage } from "../src/graph-operations.ts";
import { METRIC, m365Metrics } from "../src/m365.service.ts";

const link = (n: number) => `https://graph.example/v1.0/users/delta?$skiptoken=${n}`;

/** A delta read of `pages` pages; records every Graph read; `fail` makes a read of that page fail (once or always). */
function fakeGraph(pages: number) {
  const reads: Array<string | undefined> = [];
  const failing = new Map<number, "once" | "always">();
  const pageOf = (l: string | undefined) => (l ? Number(new URL(l).searchParams.get("$skiptoken")) : 1);
  const read = async (l: string | undefined): Promise<DirectoryPage> => {
    reads.push(l);
    await new Promise((r) => setTimeout(r, 5));
    const n = pageOf(l);
    const failure = failing.get(n);
    if (failure) {
      if (failure === "once") failing.delete(n);
      throw new Error(`page ${n} failed`);
    }
    return {
      changes: [["r", `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`, "deleted"]],
      ...(n < pages
        ? { nextLink: link(n + 1) }
        : { deltaLink: "https://graph.example/v1.0/users/delta?$deltatoken=x" }),
      resyncRequired: false,
    };
  };
  return { reads, failing, read };
}

test("each page is read once: the next is fetched while the caller works, and handed over when asked", async (t) => {
  const graph = fakeGraph(4);
  const ahead = new DirectoryReadAhead(graph.read);
  let page = await ahead.read(undefined, 999);
  // The first page's answer started the second read.
  t.deepEqual(graph.reads, [undefined, link(2)]);
  const seen = [page.changes[0]];
  while (page.nextLink) {
    page = await ahead.read(page.nextLink, 999);
    seen.push(page.changes[0]);
  }
  t.is(seen.length, 4);
  t.truthy(page.deltaLink);
  // Four reads for four pages: nothing read twice, nothing read past the deltaLink.
  t.deepEqual(graph.reads, [undefined, link(2), link(3), link(4)]);
  t.deepEqual(ahead.stats, { hits: 3, misses: 0, starts: 1, wasted: 0 });
});

test("a page fetched ahead that failed is read again when asked: the caller gets the page, or the error itself", async (t) => {
  const graph = fakeGraph(3);
  graph.failing.set(2, "once");
  const ahead = new DirectoryReadAhead(graph.read);
  const first = await ahead.read(undefined, 999);
  const second = await ahead.read(first.nextLink, 999);
  t.is(second.nextLink, link(3));
  t.deepEqual(graph.reads.slice(0, 3), [undefined, link(2), link(2)]);

  graph.failing.set(3, "always");
  await new Promise((r) => setTimeout(r, 20)); // the read ahead of page 3 has failed by now
  await t.throwsAsync(ahead.read(second.nextLink, 999), { message: "page 3 failed" });
});

test("a page fetched ahead and not asked for in time is dropped and read afresh; another page size is another read", async (t) => {
  const graph = fakeGraph(3);
  const ahead = new DirectoryReadAhead(graph.read, { keepMs: 30 });
  const first = await ahead.read(undefined, 999);
  await new Promise((r) => setTimeout(r, 60));
  await ahead.read(first.nextLink, 999);
  t.deepEqual(graph.reads.slice(0, 3), [undefined, link(2), link(2)]);
  t.is(ahead.stats.wasted, 1);

  const other = fakeGraph(3);
  const ahead2 = new DirectoryReadAhead(other.read);
  await ahead2.read(undefined, 999);
  await ahead2.read(link(2), 100);
  t.deepEqual(other.reads.slice(0, 3), [undefined, link(2), link(2)]);
});

test("hits, misses, starts and pages fetched in vain are the service's metric hearth.m365.directory.read_ahead.total", async (t) => {
  const broker = new moleculer.ServiceBroker({ logger: false, metrics: { enabled: true, reporter: [] } });
  const counted = (outcome: string) =>
    (broker.metrics.getMetric(METRIC.readAhead)?.get({ outcome }) as { value?: number } | null)?.value ?? 0;
  const graph = fakeGraph(3);
  const ahead = new DirectoryReadAhead(graph.read, { keepMs: 30, counted: m365Metrics(broker).readAhead });
  const first = await ahead.read(undefined, 999);
  const second = await ahead.read(first.nextLink, 999);
  // The third page, fetched ahead, is not asked for in time: wasted, then read when asked (a miss).
  await new Promise((r) => setTimeout(r, 60));
  const third = await ahead.read(second.nextLink, 999);
  // The changes since (a deltaLink) start a read, as the first page did.
  await ahead.read(third.deltaLink, 999);
  t.deepEqual(
    { hit: counted("hit"), miss: counted("miss"), start: counted("start"), wasted: counted("wasted") },
    { hit: 1, miss: 1, start: 2, wasted: 1 },
  );
  t.deepEqual(ahead.stats, { hits: 1, misses: 1, starts: 2, wasted: 1 });
});
