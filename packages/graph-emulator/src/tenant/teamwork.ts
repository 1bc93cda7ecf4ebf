// What the tenant remembers of Hearth's messaging: mail sent, the org app catalog, Teams app installations per user
// and the activity-feed notifications delivered — so tests and the demo can see what reached whom.
import { createHash } from "node:crypto";

export type SentMessage = {
  id: string;
  senderId: string;
  sentAt: string;
  subject: string;
  contentType: "html" | "text";
  content: string;
  to: string[];
  cc: string[];
  saveToSentItems: boolean;
};

export type CatalogApp = {
  id: string;
  externalId: string;
  displayName: string;
  distributionMethod: "organization";
  /** The Entra app (webApplicationInfo.id of the manifest) that may send activity notifications for it. */
  azureADAppId: string;
};

export type Installation = { id: string; userId: string; teamsAppId: string; installedAt: string };

export type DeliveredActivity = {
  recipientId: string;
  teamsAppId: string;
  activityType: string;
  previewText: string;
  topic: { source: string; value: string; webUrl?: string };
  templateParameters: Array<{ name: string; value: string }>;
  chainId?: number;
  deliveredAt: string;
};

/** A stable GUID from text, so a restarted emulator has the same catalog ids. */
export function stableGuid(text: string): string {
  const h = createHash("sha256").update(text).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

export class Teamwork {
  readonly sentMail: SentMessage[] = [];
  readonly catalog = new Map<string, CatalogApp>();
  /** userId → installations */
  readonly installations = new Map<string, Installation[]>();
  /** userId → activity notifications delivered to them */
  readonly activities = new Map<string, DeliveredActivity[]>();
  /** Every activity delivered so far, to anyone (a benchmark waits on it without asking Hearth). */
  deliveredCount = 0;
  /** Bulk recipients that got nothing (Graph accepts the call and drops them silently). */
  readonly undelivered: Array<{ recipientId: string; reason: "appNotInstalled" | "unknownUser" }> = [];

  /** The org catalog entry of the Teams app that belongs to an app registration (created on first use). */
  catalogAppFor(azureADAppId: string, displayName = "Hearth"): CatalogApp {
    for (const app of this.catalog.values()) if (app.azureADAppId === azureADAppId) return app;
    const app: CatalogApp = {
      id: stableGuid(`teams-app|${azureADAppId}`),
      externalId: stableGuid(`manifest|${azureADAppId}`),
      displayName,
      distributionMethod: "organization",
      azureADAppId,
    };
    this.catalog.set(app.id, app);
    return app;
  }

  installedFor(userId: string): Installation[] {
    return this.installations.get(userId) ?? [];
  }

  install(userId: string, teamsAppId: string): Installation {
    const installation: Installation = {
      // Graph's installation ids are opaque base64 strings.
      id: Buffer.from(`${userId}##${teamsAppId}`).toString("base64url"),
      userId,
      teamsAppId,
      installedAt: new Date().toISOString(),
    };
    const list = this.installations.get(userId) ?? [];
    list.push(installation);
    this.installations.set(userId, list);
    return installation;
  }

  uninstall(userId: string, installationId: string): boolean {
    const list = this.installedFor(userId);
    const index = list.findIndex((i) => i.id === installationId);
    if (index < 0) return false;
    list.splice(index, 1);
    return true;
  }

  deliver(activity: DeliveredActivity): void {
    const list = this.activities.get(activity.recipientId) ?? [];
    list.push(activity);
    this.activities.set(activity.recipientId, list);
    this.deliveredCount++;
  }
}
