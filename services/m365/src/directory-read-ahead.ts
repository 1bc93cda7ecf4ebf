// A users delta read is a chain: each page names the next. Waiting for the caller to ask for the next page puts the
// way back to it (reply, NATS, its busy event loop, the next request) between every two Graph calls; measured on a
// first sync of 100,000 that chain was 53 ms a page against Graph's (the emulator's) 21. So once a page is read, the
// next is fetched at once and kept here until it is asked for.
import type { DirectoryPage } from "./graph-operations.ts";

type Reader = (link: string | undefined, pageSize: number | undefined) => Promise<DirectoryPage>;
type Ahead = { page: Promise<DirectoryPage | undefined>; at: number };
/**
 * How a page was served: fetched ahead and asked for (hit); a nextLink's page read when asked (miss: not fetched
 * ahead here, failed, or dropped); a read's first page (start: no link, or a deltaLink, never fetched ahead); or a
 * page fetched ahead in vain (wasted).
 */
export type ReadAheadOutcome = "hit" | "miss" | "start" | "wasted";
/** Graph's deltaLink carries a $deltatoken (a nextLink a $skiptoken): it starts a read of the changes since. */
const startsARead = (link: string | undefined) => !link || /[?&](?:\$|%24)deltatoken=/i.test(link);
/** Where each outcome is counted in `stats`. */
const STAT = { hit: "hits", miss: "misses", start: "starts", wasted: "wasted" } as const;
/** The same link read with another page size is another page. */
const keyOf = (link: string | undefined, pageSize: number | undefined) => `${pageSize ?? ""} ${link}`;

export class DirectoryReadAhead {
  readonly #read: Reader;
  readonly #keepMs: number;
  readonly #max: number;
  readonly #onFailure: (error: Error) => void;
  readonly #counted: (outcome: ReadAheadOutcome) => void;
  readonly #pages = new Map<string, Ahead>();
  /** This process's counts of each outcome (also reported to `counted`, the service's metric). */
  readonly stats = { hits: 0, misses: 0, starts: 0, wasted: 0 };

  constructor(
    read: Reader,
    options: {
      keepMs?: number;
      max?: number;
      onFailure?: (error: Error) => void;
      counted?: (outcome: ReadAheadOutcome) => void;
    } = {},
  ) {
    this.#read = read;
    this.#onFailure = options.onFailure ?? (() => undefined);
    this.#counted = options.counted ?? (() => undefined);
    // A page fetched ahead is a snapshot like any other; one not asked for soon belongs to a read that stopped.
    this.#keepMs = options.keepMs ?? 60_000;
    this.#max = options.max ?? 4;
  }

  /**
   * The page at `link` (or the first page of a full read): the one fetched ahead when there is one, else read now.
   * A page fetched ahead that failed is read again now, so its error (a missing permission, Graph down) is the
   * caller's, as without read-ahead.
   */
  async read(link: string | undefined, pageSize: number | undefined): Promise<DirectoryPage> {
    this.#forgetOld();
    const key = keyOf(link, pageSize);
    const ahead = link ? this.#pages.get(key) : undefined;
    if (ahead) this.#pages.delete(key);
    const early = ahead ? await ahead.page : undefined;
    this.#count(early ? "hit" : startsARead(link) ? "start" : "miss");
    const page = early ?? (await this.#read(link, pageSize));
    if (page.nextLink && !page.resyncRequired) this.#fetchAhead(page.nextLink, pageSize);
    return page;
  }

  #fetchAhead(link: string, pageSize: number | undefined) {
    const key = keyOf(link, pageSize);
    if (this.#pages.has(key)) return;
    while (this.#pages.size >= this.#max) this.#drop(this.#pages.keys().next().value!);
    // Failures are not kept: the caller's own request reads the page again and gets the error itself.
    const page = this.#read(link, pageSize).catch((error: Error) => {
      this.#onFailure(error);
      return undefined;
    });
    this.#pages.set(key, { page, at: performance.now() });
  }

  /** Forgets the pages fetched ahead (the service stops; reads still in flight end on their own). */
  clear() {
    for (const key of [...this.#pages.keys()]) this.#drop(key);
  }

  #forgetOld() {
    const now = performance.now();
    for (const [key, ahead] of this.#pages) if (now - ahead.at > this.#keepMs) this.#drop(key);
  }

  #drop(key: string) {
    this.#pages.delete(key);
    this.#count("wasted");
  }

  #count(outcome: ReadAheadOutcome) {
    this.stats[STAT[outcome]]++;
    this.#counted(outcome);
  }
}
