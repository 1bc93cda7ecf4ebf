// The emulated Entra ID tenant: users (with their manager and mailbox), app registrations with their granted
// application permissions, and an append-only change log that delta queries read.
//
// Why a change log: a delta round must cost O(changes), not O(users), and paging through it must be O(page). Every
// change appends (seq, userId); a user's `version` is the seq of its latest change. A delta round from token v
// walks the log after v and emits an entry only if it is the user's latest change, so a user changed twice appears
// once, and a user changed again while a client is paging is deferred to the next round (nothing lost, no doubles).

import { Calendar } from "./calendar.ts";
import { Teams } from "./teams.ts";
import { Teamwork } from "./teamwork.ts";

/** The Graph properties we store for a user (names exactly as in microsoft.graph.user). */
export type UserData = {
  id: string;
  userPrincipalName: string;
  displayName: string;
  givenName: string | null;
  surname: string | null;
  mail: string | null;
  mailNickname: string;
  jobTitle: string | null;
  department: string | null;
  companyName: string | null;
  officeLocation: string | null;
  city: string | null;
  country: string | null;
  usageLocation: string | null;
  preferredLanguage: string | null;
  accountEnabled: boolean;
  employeeId: string | null;
  employeeType: string | null;
  employeeHireDate: string | null;
  employeeLeaveDateTime: string | null;
  createdDateTime: string;
  businessPhones: string[];
  mobilePhone: string | null;
  userType: string;
};

/** Exchange Online mailbox of a user; null means the user has none (no licence). */
export type Mailbox = { timeZone: string; locale: string; localeDisplayName: string };

export type RemovalReason = "changed" | "deleted";

export type UserRecord = {
  data: UserData;
  managerId: string | null;
  mailbox: Mailbox | null;
  /** Seq of the latest change. */
  version: number;
  /** Soft-deleted ("changed", restorable) or hard-deleted ("deleted"); null while the user exists. */
  removed: RemovalReason | null;
  deletedDateTime: string | null;
  /** The manager before the latest manager change, so delta can report its removal in `manager@delta`. */
  formerManagerId: string | null;
  /** Seq of the latest change to the object as a whole (creation, removal, restore), for `Prefer: return=minimal`. */
  wholeChangeSeq: number;
  /** Property-level changes after `wholeChangeSeq` (absent until there is one: 100k seeded users carry none). */
  fieldChanges?: { seq: number; fields: string[] }[];
};

export type AppRegistration = {
  clientId: string;
  clientSecret: string;
  displayName: string;
  /** Object id of the app's service principal in this tenant: the `oid`/`sub` of its tokens. */
  servicePrincipalId: string;
  permissions: Set<string>;
};

export type NewUser = Partial<UserData> & {
  displayName: string;
  managerId?: string | null;
  mailbox?: Mailbox | null;
};

export type UserChanges = Partial<Omit<UserData, "id">> & { managerId?: string | null; mailbox?: Mailbox | null };

export class Tenant {
  readonly tenantId: string;
  readonly domain: string;
  readonly displayName: string;
  readonly apps = new Map<string, AppRegistration>();
  /** Mail sent, the org app catalog, Teams app installations and activity notifications. */
  readonly teamwork = new Teamwork();
  /** Events created through Graph, with attendees' responses. */
  readonly calendar = new Calendar();
  /** Lifetime of the app tokens Entra issues from now on (3599 s, as Entra; shorter ones exercise expiry rules). */
  tokenLifetimeSeconds = 3599;
  /** Teams created through Graph, with their channels and members. */
  readonly teams = new Teams();
  /** Every user ever created, in creation order: list and initial-delta paging use stable positions in it. */
  readonly records: UserRecord[] = [];
  private readonly byId = new Map<string, UserRecord>();
  private readonly byUpn = new Map<string, UserRecord>();
  private readonly logSeqs: number[] = [];
  private readonly logIds: string[] = [];
  private seq = 0;
  /** Raised by `expireDeltaTokens`: tokens issued under an older epoch get 410 Gone. */
  deltaEpoch = 1;
  private nextId: () => string;

  constructor(options: { tenantId: string; domain: string; displayName?: string; newId?: () => string }) {
    this.tenantId = options.tenantId;
    this.domain = options.domain;
    this.displayName = options.displayName ?? "Contoso";
    this.nextId = options.newId ?? (() => crypto.randomUUID());
  }

  get currentVersion(): number {
    return this.seq;
  }

  get size(): number {
    return this.records.length;
  }

  registerApp(
    app: Omit<AppRegistration, "permissions" | "servicePrincipalId"> & {
      permissions: Iterable<string>;
      servicePrincipalId?: string;
    },
  ): AppRegistration {
    const registration: AppRegistration = {
      clientId: app.clientId,
      clientSecret: app.clientSecret,
      displayName: app.displayName,
      servicePrincipalId: app.servicePrincipalId ?? this.nextId(),
      permissions: new Set(app.permissions),
    };
    this.apps.set(app.clientId, registration);
    return registration;
  }

  app(clientId?: string): AppRegistration {
    const app = clientId === undefined ? this.apps.values().next().value : this.apps.get(clientId);
    if (!app) throw new Error(clientId === undefined ? "the tenant has no app registration" : `no app ${clientId}`);
    return app;
  }

  /** A user that exists (not removed), by object id or user principal name (case-insensitive). */
  find(idOrUpn: string): UserRecord | undefined {
    const record = this.byId.get(idOrUpn.toLowerCase()) ?? this.byUpn.get(idOrUpn.toLowerCase());
    return record && record.removed === null ? record : undefined;
  }

  /** Any user ever created, removed ones included. */
  findAny(idOrUpn: string): UserRecord | undefined {
    return this.byId.get(idOrUpn.toLowerCase()) ?? this.byUpn.get(idOrUpn.toLowerCase());
  }

  addUser(user: NewUser): UserRecord {
    const id = (user.id ?? this.nextId()).toLowerCase();
    if (this.byId.has(id)) throw new Error(`user ${id} already exists`);
    const nickname = user.mailNickname ?? user.displayName.toLowerCase().replace(/[^a-z0-9]+/g, ".");
    const upn = user.userPrincipalName ?? `${nickname}@${this.domain}`;
    if (this.byUpn.has(upn.toLowerCase())) throw new Error(`user ${upn} already exists`);
    if (user.managerId && !this.find(user.managerId)) throw new Error(`manager ${user.managerId} does not exist`);
    const data: UserData = {
      id,
      userPrincipalName: upn,
      displayName: user.displayName,
      givenName: user.givenName ?? null,
      surname: user.surname ?? null,
      mail: user.mail === undefined ? (user.mailbox === null ? null : upn) : user.mail,
      mailNickname: nickname,
      jobTitle: user.jobTitle ?? null,
      department: user.department ?? null,
      companyName: user.companyName ?? this.displayName,
      officeLocation: user.officeLocation ?? null,
      city: user.city ?? null,
      country: user.country ?? null,
      usageLocation: user.usageLocation ?? null,
      preferredLanguage: user.preferredLanguage ?? null,
      accountEnabled: user.accountEnabled ?? true,
      employeeId: user.employeeId ?? null,
      employeeType: user.employeeType ?? "Employee",
      employeeHireDate: user.employeeHireDate ?? null,
      employeeLeaveDateTime: user.employeeLeaveDateTime ?? null,
      createdDateTime: user.createdDateTime ?? isoSeconds(new Date()),
      businessPhones: user.businessPhones ?? [],
      mobilePhone: user.mobilePhone ?? null,
      userType: user.userType ?? "Member",
    };
    const record: UserRecord = {
      data,
      managerId: user.managerId ? this.find(user.managerId)!.data.id : null,
      mailbox: user.mailbox === undefined ? null : user.mailbox,
      version: 0,
      removed: null,
      deletedDateTime: null,
      formerManagerId: null,
      wholeChangeSeq: 0,
    };
    this.records.push(record);
    this.byId.set(id, record);
    this.byUpn.set(upn.toLowerCase(), record);
    this.touch(record);
    return record;
  }

  /**
   * Changes directory fields and/or the manager; only real changes are logged (and so reported by delta), with the
   * names of the properties that changed (`manager` for the manager). The mailbox lives in Exchange, outside
   * Entra, so changing it alone is not a directory change: delta does not track it.
   */
  updateUser(idOrUpn: string, changes: UserChanges): UserRecord {
    const record = this.require(idOrUpn);
    const { managerId, mailbox, ...fields } = changes;
    // Validate everything before changing anything.
    let newManagerId = record.managerId;
    if (managerId !== undefined && managerId !== null) {
      const manager = this.find(managerId);
      if (!manager) throw new Error(`manager ${managerId} does not exist`);
      if (manager === record) throw new Error("a user cannot be their own manager");
      newManagerId = manager.data.id;
    } else if (managerId === null) newManagerId = null;
    const newUpn = fields.userPrincipalName;
    if (
      newUpn &&
      newUpn.toLowerCase() !== record.data.userPrincipalName.toLowerCase() &&
      this.byUpn.has(newUpn.toLowerCase())
    ) {
      throw new Error(`${newUpn} is taken`);
    }
    if ("id" in fields) throw new Error("id cannot change");

    if (mailbox !== undefined) record.mailbox = mailbox;
    const data = record.data as unknown as Record<string, unknown>;
    const changed: string[] = [];
    for (const [name, value] of Object.entries(fields)) {
      if (value !== undefined && JSON.stringify(data[name]) !== JSON.stringify(value)) changed.push(name);
    }
    if (newUpn && changed.includes("userPrincipalName")) {
      this.byUpn.delete(record.data.userPrincipalName.toLowerCase());
      this.byUpn.set(newUpn.toLowerCase(), record);
    }
    for (const name of changed) data[name] = (fields as Record<string, unknown>)[name];
    if (newManagerId !== record.managerId) {
      record.formerManagerId = record.managerId;
      record.managerId = newManagerId;
      changed.push("manager");
    }
    if (changed.length > 0) this.touch(record, changed);
    return record;
  }

  /**
   * Soft delete (delta reports reason "changed": restorable for 30 days in Entra) or hard delete ("deleted").
   * Direct reports lose their manager reference, which is itself a change to them.
   */
  removeUser(idOrUpn: string, options: { hard?: boolean } = {}): UserRecord {
    const record = this.findAny(idOrUpn);
    if (!record || record.removed === "deleted") throw new Error(`user ${idOrUpn} does not exist`);
    if (record.removed === "changed" && !options.hard) throw new Error(`user ${idOrUpn} is already soft-deleted`);
    record.removed = options.hard ? "deleted" : "changed";
    record.deletedDateTime ??= isoSeconds(new Date());
    this.touch(record);
    for (const other of this.records) {
      if (other.managerId === record.data.id && other.removed === null) {
        other.formerManagerId = other.managerId;
        other.managerId = null;
        this.touch(other, ["manager"]);
      }
    }
    return record;
  }

  /** Restores a soft-deleted user. */
  restoreUser(idOrUpn: string): UserRecord {
    const record = this.findAny(idOrUpn);
    if (record?.removed !== "changed") throw new Error(`user ${idOrUpn} is not soft-deleted`);
    record.removed = null;
    record.deletedDateTime = null;
    this.touch(record);
    return record;
  }

  expireDeltaTokens(): void {
    this.deltaEpoch++;
  }

  /** Position in the change log of the first entry with seq > version (binary search). */
  logPositionAfter(version: number): number {
    let low = 0;
    let high = this.logSeqs.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.logSeqs[middle]! <= version) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  /**
   * Names of the properties of `record` changed in (fromVersion, upToVersion], or null when the object changed as a
   * whole after fromVersion (created, removed or restored: report it in full).
   */
  changedSince(record: UserRecord, fromVersion: number, upToVersion: number): Set<string> | null {
    if (record.wholeChangeSeq > fromVersion) return null;
    const names = new Set<string>();
    for (const change of record.fieldChanges ?? []) {
      if (change.seq > fromVersion && change.seq <= upToVersion) for (const name of change.fields) names.add(name);
    }
    return names;
  }

  logEntry(position: number): { seq: number; record: UserRecord } | undefined {
    const seq = this.logSeqs[position];
    return seq === undefined ? undefined : { seq, record: this.byId.get(this.logIds[position]!)! };
  }

  private require(idOrUpn: string): UserRecord {
    const record = this.find(idOrUpn);
    if (!record) throw new Error(`user ${idOrUpn} does not exist`);
    return record;
  }

  /** Logs a change; `fields` null means the whole object (created, removed, restored). */
  private touch(record: UserRecord, fields: string[] | null = null): void {
    record.version = ++this.seq;
    if (fields !== null) {
      record.fieldChanges ??= [];
      record.fieldChanges.push({ seq: record.version, fields });
    } else {
      record.wholeChangeSeq = record.version;
      record.fieldChanges = undefined;
    }
    this.logSeqs.push(record.version);
    this.logIds.push(record.data.id);
  }
}

export function isoSeconds(date: Date): string {
  // Graph writes whole seconds: 2021-03-15T00:00:00Z (slice, not a regex: this runs 300,000 times for a 100k seed).
  return `${date.toISOString().slice(0, 19)}Z`;
}
