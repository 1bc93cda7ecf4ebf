// Deterministic seeded tenants: the same options (seed, size, `now`) give the same people, ids and org chart.

import { type Random, seededRandom } from "./random.ts";
import { DEPARTMENTS, type Department, GIVEN_NAMES, OFFICES, type Office, SURNAMES } from "./reference-data.ts";
import { isoSeconds, type Mailbox, type NewUser, Tenant } from "./tenant.ts";

/** What Hearth's app registration is granted: the least-privileged permission of every operation it performs. */
export const DEFAULT_PERMISSIONS = [
  "User.Read.All",
  "User-LifeCycleInfo.Read.All",
  "MailboxSettings.Read",
  "Calendars.ReadWrite",
  "Mail.Send",
  "TeamsActivity.Send",
  "TeamsAppInstallation.ReadWriteSelfForUser.All",
  "Team.Create",
  "Team.ReadBasic.All",
  "Channel.Create",
  "Channel.ReadBasic.All",
  "TeamMember.ReadWriteNonOwnerRole.All",
] as const;

export type SeedOptions = {
  users: number;
  seed?: number | string;
  tenantId?: string;
  domain?: string;
  companyName?: string;
  /** The app registration Hearth signs in as. Default: a client id and secret derived from the seed. */
  app?: { clientId?: string; clientSecret?: string; displayName?: string; permissions?: readonly string[] };
  /** Reference date for hire and leave dates (default: today at 00:00 UTC, so a seed is stable within a day). */
  now?: Date;
};

const DAY_MS = 86_400_000;

export function seedTenant(options: SeedOptions): Tenant {
  const random = seededRandom(options.seed ?? 1);
  const now = options.now ?? new Date(Math.floor(Date.now() / DAY_MS) * DAY_MS);
  const tenantId = options.tenantId ?? random.uuid();
  const tenant = new Tenant({
    tenantId,
    domain: options.domain ?? "contoso.onmicrosoft.com",
    displayName: options.companyName ?? "Contoso",
    newId: () => random.uuid(),
  });
  tenant.registerApp({
    clientId: options.app?.clientId ?? random.uuid(),
    clientSecret: options.app?.clientSecret ?? `hearth~${random.uuid().replaceAll("-", "")}`,
    displayName: options.app?.displayName ?? "Hearth",
    permissions: options.app?.permissions ?? DEFAULT_PERMISSIONS,
  });
  const people = new PersonFactory(tenant, random, now);
  const total = Math.max(0, Math.floor(options.users));
  if (total === 0) return tenant;

  // CEO → one VP per department → managers (about one per nine people) → staff.
  const ceo = people.add({
    department: "Executive",
    jobTitle: "Chief Executive Officer",
    managerId: null,
    office: OFFICES[0]!,
  });
  const vpCount = Math.min(DEPARTMENTS.length, total - 1);
  const vps = new Map<string, string>();
  for (let i = 0; i < vpCount; i++) {
    const department = DEPARTMENTS[i]!;
    vps.set(department.name, people.add({ department: department.name, jobTitle: department.vpTitle, managerId: ceo }));
  }
  const remaining = total - 1 - vpCount;
  const managerCount = Math.floor(remaining / 9);
  const managers = new Map<string, string[]>();
  for (let i = 0; i < managerCount; i++) {
    const department = i < vpCount ? DEPARTMENTS[i]! : pickDepartment(random, vpCount);
    const id = people.add({
      department: department.name,
      jobTitle: department.managerTitle,
      managerId: vps.get(department.name)!,
    });
    const list = managers.get(department.name) ?? [];
    list.push(id);
    managers.set(department.name, list);
  }
  for (let i = 0; i < remaining - managerCount; i++) {
    const department = pickDepartment(random, vpCount);
    const candidates = managers.get(department.name);
    const managerId = candidates ? random.pick(candidates) : vps.get(department.name)!;
    people.add({ department: department.name, jobTitle: random.pick(department.staffTitles), managerId });
  }
  return tenant;
}

function pickDepartment(random: Random, available: number): Department {
  return available >= DEPARTMENTS.length
    ? random.weighted(DEPARTMENTS)
    : random.pick(DEPARTMENTS.slice(0, Math.max(1, available)));
}

/** Makes plausible people; also used by the control API to hire someone with only a few fields given. */
export class PersonFactory {
  private readonly usedNicknames = new Map<string, number>();
  private employeeNumber = 1000;
  private readonly tenant: Tenant;
  private readonly random: Random;
  private readonly now: Date;

  constructor(tenant: Tenant, random: Random, now: Date) {
    this.tenant = tenant;
    this.random = random;
    this.now = now;
  }

  add(options: { department: string; jobTitle: string; managerId: string | null; office?: Office }): string {
    return this.tenant.addUser(this.person(options)).data.id;
  }

  person(options: {
    department?: string;
    jobTitle?: string;
    managerId?: string | null;
    office?: Office;
    future?: boolean;
  }): NewUser {
    const random = this.random;
    const office = options.office ?? random.weighted(OFFICES);
    const givenName = random.pick(GIVEN_NAMES);
    const surname = random.pick(SURNAMES);
    const nickname = this.nickname(givenName, surname);
    const hasMailbox = !random.chance(0.04);
    // Mostly Windows zone names (Exchange's default); some admins configure IANA names.
    const mailbox: Mailbox | null = hasMailbox
      ? {
          timeZone: random.chance(0.15) ? office.ianaTimeZone : office.windowsTimeZone,
          locale: office.locale,
          localeDisplayName: office.localeDisplayName,
        }
      : null;
    const today = this.now.getTime();
    const preBoarding = options.future ?? random.chance(0.02);
    const hire = preBoarding ? today + random.int(1, 60) * DAY_MS : today - random.int(1, 15 * 365) * DAY_MS;
    const leaving = !preBoarding && random.chance(0.03);
    const leave = leaving ? today + random.int(-90, 60) * DAY_MS : null;
    const left = leave !== null && leave < today;
    return {
      displayName: `${givenName} ${surname}`,
      givenName,
      surname,
      userPrincipalName: `${nickname}@${this.tenant.domain}`,
      mailNickname: nickname,
      mail: hasMailbox ? `${nickname}@${this.tenant.domain}` : null,
      jobTitle: options.jobTitle ?? null,
      department: options.department ?? null,
      officeLocation: office.name,
      city: office.city,
      country: office.country,
      usageLocation: office.usageLocation,
      preferredLanguage: random.chance(0.15) ? "en-US" : office.locale,
      accountEnabled: !left && !random.chance(0.01),
      employeeId: String(++this.employeeNumber),
      employeeType: "Employee",
      employeeHireDate: isoSeconds(new Date(hire)),
      employeeLeaveDateTime: leave === null ? null : isoSeconds(new Date(leave)),
      createdDateTime: isoSeconds(new Date(Math.min(hire, today) - random.int(7, 30) * DAY_MS)),
      businessPhones: random.chance(0.6)
        ? [`+${random.int(10, 99)} ${random.int(10, 99)} ${random.int(100, 999)} ${random.int(1000, 9999)}`]
        : [],
      mobilePhone: null,
      managerId: options.managerId ?? null,
      mailbox,
    };
  }

  private nickname(givenName: string, surname: string): string {
    const base = `${givenName}.${surname}`
      .normalize("NFD")
      .replace(/[\u0300-\u036f]/g, "")
      .toLowerCase()
      .replace(/[^a-z.]+/g, "");
    const used = this.usedNicknames.get(base) ?? 0;
    this.usedNicknames.set(base, used + 1);
    let candidate = used === 0 ? base : `${base}${used + 1}`;
    // Hires through the control API share the namespace with seeded people.
    while (this.tenant.findAny(`${candidate}@${this.tenant.domain}`))
      candidate = `${base}${this.random.int(100, 99999)}`;
    return candidate;
  }
}
