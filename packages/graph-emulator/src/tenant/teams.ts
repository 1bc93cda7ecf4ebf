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

export type TeamOperation = { id: string; teamId: string; createdDateTime: string; readyAt: number };

export class Teams {
  readonly teams = new Map<string, Team>();
  readonly operations = new Map<string, TeamOperation>();

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
