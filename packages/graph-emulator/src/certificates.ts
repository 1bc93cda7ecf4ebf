// The emulator's own certificate authority and its localhost server certificate, made with @peculiar/x509 on Node's
// WebCrypto and kept in a folder so that a restarted emulator (npm start) is still trusted by clients that were
// given the CA through NODE_EXTRA_CA_CERTS.
import { randomBytes, webcrypto } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
// @peculiar/x509 resolves its ASN.1 classes through tsyringe, which needs the Reflect metadata polyfill first.
import "reflect-metadata";
import * as x509 from "@peculiar/x509";

export type Certificates = { caPem: string; certPem: string; keyPem: string; caCertPath: string };

const CA_FILE = "ca.pem";
const CA_KEY_FILE = "ca-key.pem";
const SERVER_FILE = "server.pem";
const SERVER_KEY_FILE = "server-key.pem";
const SERVER_NAMES = [
  { type: "dns", value: "localhost" },
  { type: "ip", value: "127.0.0.1" },
  { type: "ip", value: "::1" },
] as const;
const ALGORITHM = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
const DAY_MS = 86_400_000;

const crypto = webcrypto as unknown as Crypto;
x509.cryptoProvider.set(crypto);

/**
 * The CA and server certificate in `dir`, created when missing. A server certificate that expires within a week
 * is renewed under the same CA, so clients keep trusting it.
 */
export async function loadOrCreateCertificates(dir: string): Promise<Certificates> {
  await fs.mkdir(dir, { recursive: true });
  const caCertPath = path.join(dir, CA_FILE);
  let ca = await readPair(dir, CA_FILE, CA_KEY_FILE);
  if (!ca) {
    ca = await createCa();
    await writeAtomically(path.join(dir, CA_KEY_FILE), ca.keyPem, 0o600);
    await writeAtomically(caCertPath, ca.certPem, 0o644);
    await fs.rm(path.join(dir, SERVER_FILE), { force: true });
  }
  let server = await readPair(dir, SERVER_FILE, SERVER_KEY_FILE);
  if (!server || new x509.X509Certificate(server.certPem).notAfter.getTime() < Date.now() + 7 * DAY_MS) {
    server = await createServerCertificate(ca);
    await writeAtomically(path.join(dir, SERVER_KEY_FILE), server.keyPem, 0o600);
    await writeAtomically(path.join(dir, SERVER_FILE), server.certPem, 0o644);
  }
  return { caPem: ca.certPem, certPem: server.certPem, keyPem: server.keyPem, caCertPath };
}

/** Copies the CA certificate (PEM) to `target`, e.g. for NODE_EXTRA_CA_CERTS in another process. */
export async function writeCaCertificate(dir: string, target: string): Promise<string> {
  const { caPem } = await loadOrCreateCertificates(dir);
  await fs.mkdir(path.dirname(target), { recursive: true });
  await fs.writeFile(target, caPem);
  return target;
}

type Pair = { certPem: string; keyPem: string };

async function createCa(): Promise<Pair> {
  const keys = (await crypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"])) as CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: "CN=Hearth Graph Emulator Local CA, O=Hearth development",
    notBefore: new Date(Date.now() - DAY_MS),
    notAfter: new Date(Date.now() + 3650 * DAY_MS),
    signingAlgorithm: ALGORITHM,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString("pem"), keyPem: await privateKeyPem(keys.privateKey) };
}

async function createServerCertificate(ca: Pair): Promise<Pair> {
  const caCert = new x509.X509Certificate(ca.certPem);
  const caKey = await crypto.subtle.importKey("pkcs8", pemBody(ca.keyPem), ALGORITHM, false, ["sign"]);
  const keys = (await crypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"])) as CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: "CN=localhost",
    issuer: caCert.subject,
    notBefore: new Date(Date.now() - DAY_MS),
    notAfter: new Date(Date.now() + 397 * DAY_MS),
    signingAlgorithm: ALGORITHM,
    publicKey: keys.publicKey,
    signingKey: caKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(SERVER_NAMES.map((name) => ({ ...name }))),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(caCert),
    ],
  });
  // The chain (server then CA) lets clients that trust only the CA build the path.
  return { certPem: cert.toString("pem"), keyPem: await privateKeyPem(keys.privateKey) };
}

async function readPair(dir: string, certFile: string, keyFile: string): Promise<Pair | undefined> {
  try {
    const [certPem, keyPem] = await Promise.all([
      fs.readFile(path.join(dir, certFile), "utf8"),
      fs.readFile(path.join(dir, keyFile), "utf8"),
    ]);
    return { certPem, keyPem };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

async function privateKeyPem(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await crypto.subtle.exportKey("pkcs8", key));
  const lines = der
    .toString("base64")
    .match(/.{1,64}/g)!
    .join("\n");
  return `-----BEGIN PRIVATE KEY-----\n${lines}\n-----END PRIVATE KEY-----\n`;
}

function pemBody(pem: string): ArrayBuffer {
  const der = Buffer.from(pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, ""), "base64");
  return der.buffer.slice(der.byteOffset, der.byteOffset + der.byteLength) as ArrayBuffer;
}

function serial(): string {
  // Positive (high bit clear) and unique per certificate.
  const bytes = randomBytes(16);
  bytes[0] = bytes[0]! & 0x7f;
  return bytes.toString("hex");
}

/** Write then rename, so a concurrently starting emulator never reads half a file. */
async function writeAtomically(file: string, content: string, mode: number): Promise<void> {
  const temporary = `${file}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  await fs.writeFile(temporary, content, { mode });
  await fs.rename(temporary, file);
}
