// The control API: what a test, the demo or another process does to the tenant so that Graph has something to
// report (hire, change, remove people), and knobs for failure paths (expire delta tokens, revoke a permission,
// throttling on or off). The same operations are served over HTTPS under /_emulator/ (see handleControl).

import type { CalendarEvent } from "./tenant/calendar.ts";
import { OFFICES } from "./tenant/reference-data.ts";
import type { PersonFactory } from "./tenant/seed.ts";
import type { CatalogApp, DeliveredActivity, SentMessage } from "./tenant/teamwork.ts";
import type { Mailbox, Tenant, UserChanges, UserData } from "./tenant/tenant.ts";
import type { Throttler, ThrottlingOptions } from "./throttling.ts";

export type HireOptions = Partial<Omit<UserData, "id">> & {
  id?: string;
  managerId?: string | null;
  /** false: no Exchange mailbox (mailboxSettings answers 404 MailboxNotEnabledForRESTAPI). */
  hasMailbox?: boolean;
  mailbox?: Mailbox;
  /** Name of one of the seeded offices; sets city, country, usageLocation, time zone and language. */
  office?: string;
};

export type AppSummary = { clientId: string; clientSecret: string; displayName: string; permissions: string[] };

export type EmulatorControl = {
  readonly tenant: Tenant;
  /** The (first, by default) app registration with its secret and granted permissions. */
  app(clientId?: string): AppSummary;
  hire(person?: HireOptions): UserData;
  change(idOrUpn: string, changes: UserChanges): UserData;
  /** Soft delete (delta reason "changed") unless `hard` (reason "deleted"). */
  remove(idOrUpn: string, options?: { hard?: boolean }): void;
  restore(idOrUpn: string): UserData;
  /** Every delta and skip token issued so far gets 410 Gone. */
  expireDeltaTokens(): void;
  /** Takes effect for tokens issued afterwards, as in Entra ID. */
  grant(permission: string, clientId?: string): void;
  revoke(permission: string, clientId?: string): void;
  setThrottling(options: ThrottlingOptions): void;
  /** 429s answered so far per limit class (e.g. teamsBulkActivityNotification); setThrottling resets them. */
  throttled(): Record<string, number>;
  /** The org catalog entry of the app registration's Teams app (Hearth's, by default). */
  teamsApp(clientId?: string): CatalogApp;
  /** Installs that Teams app for a user, as an admin setup policy would; false when it already was. */
  installApp(idOrUpn: string, clientId?: string): boolean;
  sentMail(): SentMessage[];
  /** Lifetime of app tokens issued from now on (seconds). */
  setTokenLifetime(seconds: number): void;
  /** An attendee answers an invitation (from Outlook or Teams). */
  respond(eventId: string, address: string, response: "accepted" | "tentativelyAccepted" | "declined"): CalendarEvent;
  events(organizerIdOrUpn: string): CalendarEvent[];
  activities(idOrUpn: string): DeliveredActivity[];
  /** How many activity-feed notifications have been delivered so far, to anyone. */
  activityCount(): number;
  /** The next `count` POST /teams are accepted (202) but their operation ends `failed` with this error. */
  failTeamCreations(count?: number, error?: { code: string; message: string }): void;
  /** How long Teams takes to provision a team from now on (emulator seconds, before the time scale; default 3). */
  setTeamProvisioning(seconds: number): void;
  /** Ends every team creation under way now; returns how many there were. */
  finishTeamProvisioning(): number;
};

export function createControl(tenant: Tenant, people: PersonFactory, throttler: Throttler): EmulatorControl {
  const summary = (clientId?: string): AppSummary => {
    const app = tenant.app(clientId);
    return {
      clientId: app.clientId,
      clientSecret: app.clientSecret,
      displayName: app.displayName,
      permissions: [...app.permissions].sort(),
    };
  };
  return {
    tenant,
    app: summary,
    hire(person = {}) {
      const { hasMailbox, office: officeName, mailbox, ...fields } = person;
      const office =
        officeName === undefined
          ? undefined
          : OFFICES.find((candidate) => candidate.name === officeName || candidate.city === officeName);
      if (officeName !== undefined && !office) throw new Error(`unknown office ${officeName}`);
      const generated = people.person({
        department: fields.department ?? undefined,
        jobTitle: fields.jobTitle ?? undefined,
        managerId: fields.managerId,
        office,
      });
      // A given display name wins over the generated names, and the address follows it.
      if (fields.displayName && fields.givenName === undefined && fields.surname === undefined) {
        const [givenName, ...rest] = fields.displayName.split(" ");
        generated.givenName = givenName ?? null;
        generated.surname = rest.join(" ") || null;
      }
      // The generated person may have no mailbox (4 % do); asking for one explicitly gets the office's settings.
      const place = office ?? OFFICES.find((candidate) => candidate.name === generated.officeLocation) ?? OFFICES[0]!;
      const chosenMailbox =
        hasMailbox === false
          ? null
          : (mailbox ??
            generated.mailbox ?? {
              timeZone: place.windowsTimeZone,
              locale: place.locale,
              localeDisplayName: place.localeDisplayName,
            });
      const upn = fields.userPrincipalName ?? generated.userPrincipalName!;
      const record = tenant.addUser({
        ...generated,
        ...fields,
        userPrincipalName: upn,
        mail: fields.mail !== undefined ? fields.mail : chosenMailbox ? upn : null,
        mailbox: chosenMailbox,
      });
      return { ...record.data };
    },
    change: (idOrUpn, changes) => ({ ...tenant.updateUser(idOrUpn, changes).data }),
    remove(idOrUpn, options) {
      tenant.removeUser(idOrUpn, options);
    },
    restore: (idOrUpn) => ({ ...tenant.restoreUser(idOrUpn).data }),
    expireDeltaTokens: () => tenant.expireDeltaTokens(),
    grant(permission, clientId) {
      tenant.app(clientId).permissions.add(permission);
    },
    revoke(permission, clientId) {
      tenant.app(clientId).permissions.delete(permission);
    },
    setThrottling: (options) => throttler.configure(options),
    throttled: () => Object.fromEntries(throttler.refused),
    teamsApp(clientId) {
      const app = tenant.app(clientId);
      return tenant.teamwork.catalogAppFor(app.clientId, app.displayName);
    },
    installApp(idOrUpn, clientId) {
      const user = tenant.find(idOrUpn);
      if (!user) throw new Error(`no user ${idOrUpn}`);
      const app = this.teamsApp(clientId);
      if (tenant.teamwork.installedFor(user.data.id).some((i) => i.teamsAppId === app.id)) return false;
      tenant.teamwork.install(user.data.id, app.id);
      return true;
    },
    sentMail: () => [...tenant.teamwork.sentMail],
    setTokenLifetime(seconds) {
      if (!Number.isInteger(seconds) || seconds < 60) throw new Error("a token lives at least 60 s");
      tenant.tokenLifetimeSeconds = seconds;
    },
    respond: (eventId, address, response) => tenant.calendar.respond(eventId, address, response),
    events(organizerIdOrUpn) {
      const user = tenant.find(organizerIdOrUpn);
      return user ? [...tenant.calendar.eventsOf(user.data.id)] : [];
    },
    activityCount: () => tenant.teamwork.deliveredCount,
    activities(idOrUpn) {
      const user = tenant.find(idOrUpn);
      return user ? [...(tenant.teamwork.activities.get(user.data.id) ?? [])] : [];
    },
    failTeamCreations(count = 1, error = { code: "InternalServerError", message: "Failed to provision the team." }) {
      for (let i = 0; i < count; i++) tenant.teams.pendingFailures.push({ ...error });
    },
    setTeamProvisioning(seconds) {
      if (!(seconds >= 0)) throw new Error("provisioning takes zero seconds or more");
      tenant.teams.provisioningSeconds = seconds;
    },
    finishTeamProvisioning: () => tenant.teams.finishProvisioning(),
  };
}

export type ControlResponse = { status: number; body?: unknown };

/** The control API over HTTPS, for other processes (the demo, load tests). Paths below /_emulator. */
export function handleControl(
  control: EmulatorControl,
  method: string,
  path: string,
  query: URLSearchParams,
  body: unknown,
): ControlResponse {
  const input = (body ?? {}) as Record<string, unknown>;
  try {
    if (method === "GET" && path === "/tenant") {
      const tenant = control.tenant;
      return {
        status: 200,
        body: {
          tenantId: tenant.tenantId,
          domain: tenant.domain,
          users: tenant.size,
          version: tenant.currentVersion,
          apps: [...tenant.apps.keys()].map((id) => control.app(id)),
        },
      };
    }
    if (method === "POST" && path === "/users") return { status: 201, body: control.hire(input as HireOptions) };
    if (method === "GET" && path === "/teams-app") return { status: 200, body: control.teamsApp() };
    if (method === "GET" && path === "/mail") return { status: 200, body: control.sentMail() };
    const responseMatch = /^\/events\/([^/]+)\/responses$/.exec(path);
    if (method === "POST" && responseMatch) {
      const answer = input.response;
      if (answer !== "accepted" && answer !== "tentativelyAccepted" && answer !== "declined") {
        return { status: 400, body: { error: "response must be accepted, tentativelyAccepted or declined" } };
      }
      const event = control.respond(decodeURIComponent(responseMatch[1]!), String(input.address), answer);
      return { status: 200, body: event };
    }
    const teamworkMatch = /^\/users\/([^/]+)\/(installed-apps|activities)$/.exec(path);
    if (teamworkMatch) {
      const id = decodeURIComponent(teamworkMatch[1]!);
      if (method === "POST" && teamworkMatch[2] === "installed-apps") {
        return { status: control.installApp(id) ? 201 : 200, body: control.teamsApp() };
      }
      if (method === "GET" && teamworkMatch[2] === "activities") return { status: 200, body: control.activities(id) };
    }
    const userMatch = /^\/users\/([^/]+)$/.exec(path);
    if (userMatch) {
      const id = decodeURIComponent(userMatch[1]!);
      if (method === "PATCH") return { status: 200, body: control.change(id, input as UserChanges) };
      if (method === "DELETE") {
        control.remove(id, { hard: query.get("hard") === "true" });
        return { status: 204 };
      }
    }
    const restoreMatch = /^\/users\/([^/]+)\/restore$/.exec(path);
    if (method === "POST" && restoreMatch)
      return { status: 200, body: control.restore(decodeURIComponent(restoreMatch[1]!)) };
    if (method === "POST" && path === "/delta-tokens/expire") {
      control.expireDeltaTokens();
      return { status: 204 };
    }
    const appMatch = /^\/apps\/([^/]+)\/permissions(?:\/([^/]+))?$/.exec(path);
    if (appMatch) {
      const clientId = decodeURIComponent(appMatch[1]!);
      if (method === "POST" && typeof input.permission === "string") {
        control.grant(input.permission, clientId);
        return { status: 200, body: control.app(clientId) };
      }
      if (method === "DELETE" && appMatch[2]) {
        control.revoke(decodeURIComponent(appMatch[2]), clientId);
        return { status: 200, body: control.app(clientId) };
      }
    }
    if (method === "POST" && path === "/teams/failures") {
      const error =
        typeof input.code === "string" && typeof input.message === "string"
          ? { code: input.code, message: input.message }
          : undefined;
      control.failTeamCreations(typeof input.count === "number" ? input.count : 1, error);
      return { status: 204 };
    }
    if (method === "PUT" && path === "/teams/provisioning") {
      control.setTeamProvisioning(Number(input.seconds));
      return { status: 204 };
    }
    if (method === "POST" && path === "/teams/provisioning/finish") {
      return { status: 200, body: { finished: control.finishTeamProvisioning() } };
    }
    if (method === "PUT" && path === "/throttling") {
      control.setThrottling(input.enabled === false ? false : ((input.limits as object | undefined) ?? true));
      return { status: 204 };
    }
    return { status: 404, body: { error: `no control route ${method} /_emulator${path}` } };
  } catch (error) {
    return { status: 400, body: { error: (error as Error).message } };
  }
}
