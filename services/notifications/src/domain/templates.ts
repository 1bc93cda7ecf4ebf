// Handlebars templates per id and language (templates/<id>/<lang>/…): a Teams Adaptive Card 1.5, the activity-feed
// text, a mail subject, mail HTML and plain text. Helpers format dates and times in the recipient's time zone.
import fs from "node:fs";
import path from "node:path";
import type { TCardAction } from "@hearth/contracts";
import Handlebars from "handlebars";
import { DateTime } from "luxon";

export const LANGUAGES = ["en", "de"] as const;
export type Language = (typeof LANGUAGES)[number];
export const FALLBACK_LANGUAGE: Language = "en";

const PARTS = ["card.json.hbs", "feed.hbs", "subject.hbs", "mail.html.hbs", "mail.txt.hbs"] as const;
type Part = (typeof PARTS)[number];

export const TEMPLATES_DIR = path.join(import.meta.dirname, "..", "..", "templates");

export type Recipient = { language: Language; timeZone: string; displayName?: string | null };

export type Rendered = {
  card: Record<string, unknown>;
  /** Activity feed preview text (Graph allows 150 characters). */
  feed: string;
  subject: string;
  html: string;
  text: string;
};

/** "de-DE", "de_AT", "German" → de; anything unknown → the fallback. */
export function languageOf(preferred: string | null | undefined): Language {
  const code = (preferred ?? "").slice(0, 2).toLowerCase();
  return (LANGUAGES as readonly string[]).includes(code) ? (code as Language) : FALLBACK_LANGUAGE;
}

function toDateTime(value: unknown, zone: string, locale: string): DateTime | null {
  if (value instanceof Date) return DateTime.fromJSDate(value).setZone(zone).setLocale(locale);
  if (typeof value === "string" && value) {
    const dt = DateTime.fromISO(value, { setZone: false }).setZone(zone).setLocale(locale);
    return dt.isValid ? dt : null;
  }
  return null;
}

function createHandlebars() {
  const hb = Handlebars.create();
  // {{date when}} / {{time when}} / {{dateTime when}} in the recipient's zone and language (set per render as @root._r).
  const fmt = (format: Intl.DateTimeFormatOptions) =>
    function (this: unknown, value: unknown, options: Handlebars.HelperOptions) {
      const r = options.data.root._r as Recipient;
      const dt = toDateTime(value, r.timeZone, r.language);
      return dt ? dt.toLocaleString(format) : "";
    };
  hb.registerHelper("date", fmt({ weekday: "long", day: "numeric", month: "long", year: "numeric" }));
  hb.registerHelper("time", fmt({ hour: "2-digit", minute: "2-digit", timeZoneName: "short" }));
  hb.registerHelper("dateTime", fmt({ dateStyle: "medium", timeStyle: "short" }));
  // {{day "2026-12-10"}}: a calendar day (a wave's closing day), in the recipient's language and never shifted by
  // their time zone (a day is not an instant).
  hb.registerHelper("day", function (this: unknown, value: unknown, options: Handlebars.HelperOptions) {
    const r = options.data.root._r as Recipient;
    if (typeof value !== "string") return "";
    const d = DateTime.fromISO(value.slice(0, 10), { zone: "utc" }).setLocale(r.language);
    return d.isValid ? d.toLocaleString({ weekday: "long", day: "numeric", month: "long", year: "numeric" }) : "";
  });
  // A JSON string literal, for values inside card.json.hbs (Handlebars escapes for HTML, not JSON).
  hb.registerHelper("json", (value: unknown) => new Handlebars.SafeString(JSON.stringify(value ?? "")));
  hb.registerHelper("concat", (...args: unknown[]) =>
    args
      .slice(0, -1)
      .map((a) => String(a ?? ""))
      .join(""),
  );
  hb.registerHelper("eq", (a: unknown, b: unknown) => a === b);
  hb.registerHelper("plural", (n: number, one: string, many: string) => (n === 1 ? one : many));
  return hb;
}

type Compiled = Record<Part, Handlebars.TemplateDelegate>;

export class TemplateStore {
  private readonly hb = createHandlebars();
  private readonly cache = new Map<string, Compiled>();
  readonly dir: string;

  constructor(dir = TEMPLATES_DIR) {
    this.dir = dir;
  }

  /** Every template id found on disk. */
  ids(): string[] {
    return fs
      .readdirSync(this.dir, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name)
      .sort();
  }

  has(id: string): boolean {
    return /^[a-z][a-z0-9.-]*$/.test(id) && fs.existsSync(path.join(this.dir, id, FALLBACK_LANGUAGE));
  }

  private compiled(id: string, language: Language): Compiled {
    const dir = fs.existsSync(path.join(this.dir, id, language))
      ? path.join(this.dir, id, language)
      : path.join(this.dir, id, FALLBACK_LANGUAGE);
    const key = dir;
    let compiled = this.cache.get(key);
    if (!compiled) {
      if (!this.has(id)) throw new Error(`Unknown template ${id}`);
      compiled = Object.fromEntries(
        PARTS.map((part) => [
          part,
          this.hb.compile(fs.readFileSync(path.join(dir, part), "utf8"), {
            strict: false,
            noEscape: part === "feed.hbs" || part === "subject.hbs" || part === "mail.txt.hbs",
          }),
        ]),
      ) as Compiled;
      this.cache.set(key, compiled);
    }
    return compiled;
  }

  render(id: string, recipient: Recipient, data: Record<string, unknown>, actions: TCardAction[] = []): Rendered {
    const parts = this.compiled(id, recipient.language);
    const context = { ...data, recipient, _r: recipient };
    const card = JSON.parse(parts["card.json.hbs"](context)) as Record<string, unknown>;
    if (actions.length > 0) {
      const existing = Array.isArray(card.actions) ? card.actions : [];
      card.actions = [
        ...existing,
        ...actions.map((a) => ({
          type: "Action.Execute",
          title: a.titles?.[recipient.language] ?? a.title,
          verb: a.verb,
          data: a.data,
        })),
      ];
    }
    const feed = parts["feed.hbs"](context).trim().replace(/\s+/g, " ");
    return {
      card,
      feed: feed.length > 150 ? `${feed.slice(0, 149)}…` : feed,
      subject: parts["subject.hbs"](context).trim().replace(/\s+/g, " "),
      html: parts["mail.html.hbs"](context),
      text: parts["mail.txt.hbs"](context),
    };
  }
}
