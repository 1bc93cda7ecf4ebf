// Opaque paging and delta tokens. Graph's are opaque too; ours are base64url JSON so the server stays stateless
// (a token is valid as long as its epoch is current and it is younger than Graph's 7-day delta-token lifetime).

export function encodeToken(value: object): string {
  return Buffer.from(JSON.stringify(value)).toString("base64url");
}

export function decodeToken<T>(token: string): T | undefined {
  try {
    const value = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as unknown;
    return typeof value === "object" && value !== null ? (value as T) : undefined;
  } catch {
    return undefined;
  }
}
