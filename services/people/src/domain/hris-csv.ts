// Reading an HRIS export: header mapping, per-row validation, a rejection for every bad row. Pure (no I/O).
import { createHash } from "node:crypto";
import { parse } from "csv-parse/sync";
import { z } from "zod";
import type { Profile } from "./employee.ts";

/** The Hearth fields a CSV can fill, and the headers HRIS exports commonly use for them. */
export const DEFAULT_HEADERS = {
  employeeId: ["Employee ID", "EmployeeID", "Employee Number", "ID"],
  mail: ["Email", "E-mail", "Work Email", "Mail"],
  upn: ["UPN", "User Principal Name"],
  displayName: ["Display Name", "Full Name", "Name"],
  givenName: ["First Name", "Given Name", "FirstName"],
  surname: ["Last Name", "Surname", "Family Name", "LastName"],
  department: ["Department"],
  jobTitle: ["Job Title", "Title", "Position"],
  office: ["Office", "Location", "Office Location"],
  country: ["Country", "Country Code"],
  timeZone: ["Time Zone", "Timezone"],
  preferredLanguage: ["Preferred Language", "Language"],
  managerMail: ["Manager Email", "Manager E-mail", "Manager Work Email"],
  hireDate: ["Hire Date", "Start Date", "HireDate"],
  leaveDate: ["Termination Date", "Leave Date", "End Date"],
} as const;
export type CsvField = keyof typeof DEFAULT_HEADERS;
export const CSV_FIELDS = Object.keys(DEFAULT_HEADERS) as CsvField[];

export type Rejection = { line: number; field: string; reason: string };

export type CsvRow = {
  line: number;
  /** The HRIS's own id when the file has one: it keeps the generated object id stable across mail changes. */
  employeeId: string | undefined;
  mail: string;
  upn: string | null | undefined;
  managerMail: string | null | undefined;
  patch: Partial<Profile>;
};

const optionalText = (max: number) => z.string().max(max).nullable().optional();

function isIanaTimeZone(value: string): boolean {
  try {
    new Intl.DateTimeFormat("en", { timeZone: value });
    return value.includes("/") || value === "UTC";
  } catch {
    return false;
  }
}

const ZDateCell = z.iso.date("must be a date like 2026-01-31").nullable().optional();
const ZRow = z.object({
  employeeId: z.string().max(100).nullable().optional(),
  mail: z.email("must be an e-mail address").max(320),
  upn: z.email("must be a user principal name like a@b.com").max(320).nullable().optional(),
  displayName: optionalText(256),
  givenName: optionalText(128),
  surname: optionalText(128),
  department: optionalText(200),
  jobTitle: optionalText(200),
  office: optionalText(200),
  country: z
    .string()
    .regex(/^[A-Za-z]{2}$/, "must be a two-letter country code")
    .nullable()
    .optional(),
  timeZone: z.string().refine(isIanaTimeZone, "must be an IANA time zone like Europe/Paris").nullable().optional(),
  preferredLanguage: z
    .string()
    .regex(/^[a-zA-Z]{2,3}(-[A-Za-z0-9]{2,8})*$/, "must be a language tag like en-US")
    .nullable()
    .optional(),
  managerMail: z.email("must be an e-mail address").max(320).nullable().optional(),
  hireDate: ZDateCell,
  leaveDate: ZDateCell,
});

/** Field → column index, from an explicit mapping (field → header) or the common headers. */
export function resolveColumns(header: string[], mapping: Record<string, string> = {}) {
  const normalise = (h: string) => h.trim().toLowerCase();
  const index = new Map(header.map((h, i) => [normalise(h), i]));
  const columns: Partial<Record<CsvField, number>> = {};
  const problems: Rejection[] = [];
  for (const [field, headerName] of Object.entries(mapping)) {
    if (!(CSV_FIELDS as string[]).includes(field)) {
      problems.push({ line: 1, field, reason: `unknown field; mappable fields: ${CSV_FIELDS.join(", ")}` });
      continue;
    }
    const i = index.get(normalise(headerName));
    if (i === undefined) problems.push({ line: 1, field: headerName, reason: "mapped column is not in the header" });
    else columns[field as CsvField] = i;
  }
  for (const field of CSV_FIELDS) {
    if (field in mapping) continue;
    const i = DEFAULT_HEADERS[field].map((h) => index.get(normalise(h))).find((v) => v !== undefined);
    if (i !== undefined) columns[field] = i;
  }
  if (columns.mail === undefined && !problems.length) {
    problems.push({ line: 1, field: "Email", reason: "no e-mail column (map one with { mail: '<header>' })" });
  }
  return { columns, problems };
}

/** The header of the field for reports: the user knows columns, not Hearth's names. */
function headerOf(field: string, header: string[], columns: Partial<Record<CsvField, number>>) {
  const i = columns[field as CsvField];
  return i === undefined ? field : (header[i] ?? field);
}

/**
 * Parses and validates the file. Every row comes back either as a CsvRow or as one rejection naming its line,
 * the column and the reason. Duplicate people in one file: the first row wins, the others are rejected.
 */
export function readHrisCsv(text: string, mapping?: Record<string, string>): { rows: CsvRow[]; rejected: Rejection[] } {
  let records: Array<{ record: string[]; info: { lines: number } }>;
  try {
    records = parse(text, { info: true, bom: true, relax_column_count: true, skip_empty_lines: true }) as never;
  } catch (error) {
    const e = error as { lines?: number; message: string };
    return { rows: [], rejected: [{ line: e.lines ?? 1, field: "file", reason: `not a readable CSV: ${e.message}` }] };
  }
  if (records.length === 0) return { rows: [], rejected: [{ line: 1, field: "file", reason: "the file is empty" }] };
  const header = records[0]!.record.map((h) => h.trim());
  const { columns, problems } = resolveColumns(header, mapping);
  if (problems.length > 0) return { rows: [], rejected: problems };

  const rows: CsvRow[] = [];
  const rejected: Rejection[] = [];
  const seen = new Map<string, number>();
  for (const { record, info } of records.slice(1)) {
    const embeddedNewlines = record.reduce((n, cell) => n + (cell.match(/\n/g)?.length ?? 0), 0);
    const line = info.lines - embeddedNewlines;
    if (record.length !== header.length) {
      rejected.push({ line, field: "row", reason: `has ${record.length} columns, the header has ${header.length}` });
      continue;
    }
    const raw: Record<string, string | null> = {};
    for (const field of CSV_FIELDS) {
      const i = columns[field];
      if (i === undefined) continue;
      const cell = record[i]!.trim();
      raw[field] = cell === "" ? null : cell;
    }
    const parsed = ZRow.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const field = String(issue.path[0] ?? "row");
      const reason = issue.code === "invalid_type" && raw[field] == null ? "is required" : issue.message;
      rejected.push({ line, field: headerOf(field, header, columns), reason });
      continue;
    }
    const r = parsed.data;
    const mail = r.mail.toLowerCase();
    const key = r.employeeId ? `id:${r.employeeId}` : `mail:${mail}`;
    const duplicateOf = seen.get(key) ?? seen.get(`mail:${mail}`);
    if (duplicateOf !== undefined) {
      rejected.push({ line, field: headerOf("mail", header, columns), reason: `same person as line ${duplicateOf}` });
      continue;
    }
    seen.set(key, line);
    seen.set(`mail:${mail}`, line);
    const patch: Partial<Profile> = { mail, enabled: true };
    const copy = <K extends keyof Profile>(k: K, v: Profile[K] | undefined) => {
      if (v !== undefined) patch[k] = v;
    };
    copy("givenName", r.givenName);
    copy("surname", r.surname);
    copy(
      "displayName",
      r.displayName !== undefined
        ? r.displayName
        : r.givenName || r.surname
          ? [r.givenName, r.surname].filter(Boolean).join(" ")
          : undefined,
    );
    copy("department", r.department);
    copy("jobTitle", r.jobTitle);
    copy("office", r.office);
    copy("country", r.country?.toUpperCase() ?? r.country);
    copy("timeZone", r.timeZone);
    copy("preferredLanguage", r.preferredLanguage);
    copy("hireDate", r.hireDate);
    copy("leaveDate", r.leaveDate);
    copy("upn", r.upn?.toLowerCase() ?? r.upn);
    rows.push({
      line,
      employeeId: r.employeeId ?? undefined,
      mail,
      upn: r.upn?.toLowerCase() ?? r.upn,
      managerMail: r.managerMail?.toLowerCase() ?? r.managerMail,
      patch,
    });
  }
  return { rows, rejected };
}

/** A stable id for someone known only from the HRIS: the same file gives the same ids, run after run. */
export function generatedObjectId(tenantId: string, row: Pick<CsvRow, "employeeId" | "mail">): string {
  const key = row.employeeId ? `id:${row.employeeId}` : `mail:${row.mail}`;
  const bytes = createHash("sha256").update(`hearth-hris:${tenantId}:${key}`).digest().subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x50;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
