import type { GraphEmulator } from "../../src/index.ts";
import { request } from "./emulator.ts";

export type DeltaRound = { items: any[]; deltaLink: string; pages: number };

/** Follows nextLinks from `url` until a deltaLink, collecting every item. */
export async function deltaRound(
  emulator: GraphEmulator,
  token: string,
  url: string,
  headers: Record<string, string> = {},
): Promise<DeltaRound> {
  const items: any[] = [];
  let pages = 0;
  let next: string | undefined = url;
  for (;;) {
    const response = await request(emulator, next, { token, headers });
    if (response.status !== 200) throw new Error(`delta page ${pages}: ${response.status} ${response.text}`);
    pages++;
    items.push(...response.body.value);
    if (response.body["@odata.deltaLink"]) return { items, deltaLink: response.body["@odata.deltaLink"], pages };
    next = response.body["@odata.nextLink"];
    if (!next) throw new Error("page with neither nextLink nor deltaLink");
  }
}
