import { createHash } from 'node:crypto';
import type { Certificate } from '../pki/index.ts';

// 100,000 facts (two per agent certificate: its signature under one CA key, its key's strength),
// about 100 bytes each: ~10 MB at most, and 50,000 agents' reconnects skip both checks.
export const CERTIFICATE_CHECK_MEMO_CAPACITY = 100_000;

// The two public-key operations an agent's admission repeats on every reconnect (3.5 % and 2 % of
// a reconnect's CPU, decision 0032) are pure functions of bytes: "this DER's signature verifies
// under this SubjectPublicKeyInfo" and "the key in this DER is strong". Only those facts are
// remembered, keyed by the SHA-256 of the whole certificate DER (and of the CA's SPKI DER), and
// only when they hold, so a miss merely costs the check again. Everything that can change (which
// CA records exist, whether they are verified, conflicts, revocation, validity, the client id, the
// agent's enabled state) is still decided on every connect. A certificate whose bytes differ in any
// way (another encoding, the other ECDSA s) has another key and is checked anew.
// Bounded: least recently used first out.
export class CertificateCheckMemo {
  readonly #capacity: number;
  readonly #facts = new Set<string>();

  constructor(capacity = CERTIFICATE_CHECK_MEMO_CAPACITY) {
    this.#capacity = capacity;
  }

  get size(): number {
    return this.#facts.size;
  }

  /** Whether `caCertificate`'s key signed `certificate`: `verify` runs unless a previous call said yes. */
  isSignedBy(certificate: Certificate, caCertificate: Certificate, verify: () => boolean): boolean {
    // One hash of the two hashes: a short key (44 characters) standing for both in full.
    const fact = `s${createHash('sha256').update(certificate.fingerprintSha256).update(':').update(caCertificate.publicKeySha256).digest('base64')}`;
    if (this.#recall(fact)) return true;
    const isSigned = verify();
    if (isSigned) this.#remember(fact);
    return isSigned;
  }

  /** What is weak about `certificate`'s key, or undefined: `describe` runs unless a previous call found it strong. */
  weakKeyDescription(certificate: Certificate, describe: () => string | undefined): string | undefined {
    const fact = `k${certificate.fingerprintSha256}`;
    if (this.#recall(fact)) return undefined;
    const weakness = describe();
    if (weakness === undefined) this.#remember(fact);
    return weakness;
  }

  /** Forgets everything (a CA removed, the trust index reloaded): belt and braces, since each fact
   *  holds for ever, but no fact then outlives the CA it was checked against. */
  clear(): void {
    this.#facts.clear();
  }

  #recall(fact: string): boolean {
    if (!this.#facts.has(fact)) return false;
    // Most recently used last: a Set iterates in insertion order.
    this.#facts.delete(fact);
    this.#facts.add(fact);
    return true;
  }

  #remember(fact: string): void {
    this.#facts.add(fact);
    if (this.#facts.size > this.#capacity) this.#facts.delete(this.#facts.values().next().value!);
  }
}
