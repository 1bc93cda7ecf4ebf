// The RSA key the emulated Entra ID signs access tokens with, kept in the data folder (mode 0600) so tokens issued
// before a restart still verify against the JWKS afterwards.
import { randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type JWK } from "jose";

export type SigningKey = { kid: string; privateKey: CryptoKey; publicKey: CryptoKey; publicJwk: JWK };

const FILE = "token-signing-key.json";

export async function loadOrCreateSigningKey(dir: string | undefined): Promise<SigningKey> {
  let privateJwk: JWK | undefined;
  const file = dir ? path.join(dir, FILE) : undefined;
  if (file) {
    try {
      privateJwk = JSON.parse(await fs.readFile(file, "utf8")) as JWK;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
  }
  if (!privateJwk) {
    const { privateKey } = await generateKeyPair("RS256", { modulusLength: 2048, extractable: true });
    privateJwk = await exportJWK(privateKey);
    if (file) {
      const temporary = `${file}.${randomBytes(4).toString("hex")}.tmp`;
      await fs.writeFile(temporary, JSON.stringify(privateJwk), { mode: 0o600 });
      await fs.rename(temporary, file);
    }
  }
  // Entra's kid is a short base64url thumbprint; a JWK thumbprint plays the same role.
  const kid = (await calculateJwkThumbprint(privateJwk)).slice(0, 27);
  const publicJwk: JWK = { kty: "RSA", use: "sig", kid, n: privateJwk.n, e: privateJwk.e, alg: "RS256" };
  return {
    kid,
    privateKey: (await importJWK(privateJwk, "RS256")) as CryptoKey,
    publicKey: (await importJWK(publicJwk, "RS256")) as CryptoKey,
    publicJwk,
  };
}
