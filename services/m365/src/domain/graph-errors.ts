/** Operations Hearth performs on Graph, with the least-privileged application permission each needs. */
export const REQUIRED_PERMISSIONS = {
  readDirectoryChanges: "User.Read.All",
  readMailboxSettings: "MailboxSettings.Read",
  sendMail: "Mail.Send",
  installAppForUser: "TeamsAppInstallation.ReadWriteSelfForUser.All",
  sendActivityNotifications: "TeamsActivity.Send",
  createEvent: "Calendars.ReadWrite",
  readEventResponses: "Calendars.ReadWrite",
  createTeam: "Team.Create",
  /** Reading a team (its webUrl) and finding one by name after an interrupted creation. */
  readTeams: "Team.ReadBasic.All",
  createChannel: "Channel.Create",
  addTeamMembers: "TeamMember.ReadWriteNonOwnerRole.All",
  removeTeamMember: "TeamMember.ReadWriteNonOwnerRole.All",
} as const;
export type GraphOperation = keyof typeof REQUIRED_PERMISSIONS;

export type GraphErrorBody = { error?: { code?: string; message?: string; innerError?: Record<string, unknown> } };

export type ClassifiedGraphError =
  | { kind: "permissionMissing"; status: 403; permission: string; message: string; graphCode: string }
  | { kind: "graph"; status: number; graphCode: string; message: string };

/** Graph's error → what Hearth reports: a missing permission is named; everything else keeps Graph's code. */
export function classifyGraphError(operation: GraphOperation, status: number, body: unknown): ClassifiedGraphError {
  const error = (body as GraphErrorBody | undefined)?.error;
  const graphCode = error?.code ?? `HTTP${status}`;
  const graphMessage = error?.message ?? "";
  if (status === 403 && (graphCode === "Authorization_RequestDenied" || graphCode === "ErrorAccessDenied")) {
    const permission = REQUIRED_PERMISSIONS[operation];
    return {
      kind: "permissionMissing",
      status: 403,
      permission,
      graphCode,
      message:
        `Microsoft 365 refused ${operation}: the Hearth app needs the application permission ${permission} ` +
        `(with admin consent) in this tenant. Graph said: ${graphCode}${graphMessage ? ` - ${graphMessage}` : ""}`,
    };
  }
  return {
    kind: "graph",
    status,
    graphCode,
    message: `Microsoft Graph failed ${operation} with ${status} ${graphCode}${graphMessage ? `: ${graphMessage}` : ""}`,
  };
}
