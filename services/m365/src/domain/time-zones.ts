import { findIana } from "windows-iana";

let ianaNames: Set<string> | undefined;

function isIana(name: string): boolean {
  ianaNames ??= new Set([...Intl.supportedValuesOf("timeZone"), "UTC", "Etc/UTC"]);
  if (ianaNames.has(name)) return true;
  try {
    new Intl.DateTimeFormat("en", { timeZone: name });
    return name.includes("/");
  } catch {
    return false;
  }
}

/**
 * A mailbox's time zone as IANA. Graph gives Windows names ("W. Europe Standard Time") unless the admin chose
 * IANA; the CLDR mapping (windows-iana) picks the zone for the territory "001" (the canonical one).
 * Unknown names give null rather than a wrong zone.
 */
export function toIanaTimeZone(timeZone: string | null | undefined): string | null {
  if (!timeZone) return null;
  const windows = findIana(timeZone);
  if (windows.length > 0) return windows[0];
  return isIana(timeZone) ? timeZone : null;
}
