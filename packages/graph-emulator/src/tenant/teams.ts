// Teams created through Graph: provisioned asynchronously (an operation to poll), with channels and members.

export type TeamMember = {
  id: string;
  userId: string;
  displayName: string;
  email: string | null;
  roles: string[];
  addedAt: string;
};

export type TeamChannel = {
  id: string;
  displayName: string;
  description: string | null;
  createdDateTime: string;
  membershipType: "standard";
};

export type Team = {
  id: string;
  internalId: string;
  displayName: string;
  description: string | null;
  visibility: "private" | "public";
  createdDateTime: string;
  /** Epoch ms after which the team exists for Graph (creation is asynchronous). */
  readyAt: number;
  channels: TeamChannel[];
  members: TeamMember[];
};

export type TeamOperation = {
  id: string;
  teamId: string;
  createdDateTime: string;
  /** Epoch ms: provisioning starts (status notStarted before), and ends (succeeded or failed). */
  startsAt: number;
  readyAt: number;
  /** Set when provisioning fails: the operation ends `failed` with this error and the team never appears. */
  failure: { code: string; message: string } | null;
};

export type TeamOperationStatus = "notStarted" | "inProgress" | "succeeded" | "failed";

export class Teams {
  readonly teams = new Map<string, Team>();
  readonly operations = new Map<string, TeamOperation>();
  /** How long provisioning takes on the emulator's clock (seconds before the time scale). */
  provisioningSeconds = 3;
  /** Failures the next creations end with (control API: failTeamCreations). */
  readonly pendingFailures: Array<{ code: string; message: string }> = [];

  static status(operation: TeamOperation, now = Date.now()): TeamOperationStatus {
    if (now < operation.startsAt) return "notStarted";
    if (now < operation.readyAt) return "inProgress";
    return operation.failure ? "failed" : "succeeded";
  }

  /** Every creation still under way ends now (as it will have: succeeded, or failed). */
  finishProvisioning(now = Date.now()): number {
    let finished = 0;
    for (const operation of this.operations.values()) {
      if (operation.readyAt <= now) continue;
      operation.startsAt = Math.min(operation.startsAt, now);
      operation.readyAt = now;
      const team = this.teams.get(operation.teamId);
      if (team) team.readyAt = now;
      finished++;
    }
    return finished;
  }

  /** Provisioned teams in creation order (failed creations never appear). */
  list(now = Date.now()): Team[] {
    return [...this.teams.values()].filter((team) => team.readyAt <= now);
  }

  /** The team once provisioned; undefined before (Graph answers 404 meanwhile). */
  ready(teamId: string, now = Date.now()): Team | undefined {
    const team = this.teams.get(teamId);
    return team && team.readyAt <= now ? team : undefined;
  }

  /** Graph's membership ids are opaque; this one is stable per team and user. */
  static membershipId(teamId: string, userId: string): string {
    return Buffer.from(`1#${teamId}#${userId}`).toString("base64url");
  }
}
