import { randomBytes } from 'node:crypto';

// 160 random bits as 40 lowercase hex characters: well above the 128 bits a registration code needs, and
// short enough for a CN (RFC 5280 ub-common-name = 64) and for typing into "-subj /CN=...".
export const newRegistrationCode = (): string => randomBytes(20).toString('hex');
