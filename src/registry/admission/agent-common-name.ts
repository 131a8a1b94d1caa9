import { isTopicSafeLevel } from '../topic-level.ts';

// The CN is stored in agents.common_name, varchar(64): PostgreSQL counts characters as code
// points, and the PostgreSQL dialect escapes NUL and U+FFFF into two characters each
// (storage/portable-dialect.ts). Counting UTF-16 units let 40 U+FFFF pass a 64 rule and become 80
// stored characters, failing the write (and with it a batch of other tenants' onboardings). So:
// count code points, and refuse what storage would escape or could not store as sent — NUL (also
// a topic rule), Unicode noncharacters (Unicode §23.7; the escape character U+FFFF is one) and
// unpaired surrogates (not UTF-8 at all; MQTT-1.5.3-1 forbids them in topics too).
export const MAX_COMMON_NAME_CHARACTERS = 64;

const hex = (codePoint: number): string => `U+${codePoint.toString(16).toUpperCase().padStart(4, '0')}`;

/** Undefined when `name` can be an agent's CN; else why not. */
export const commonNameProblem = (name: string): string | undefined => {
  if (!isTopicSafeLevel(name)) return 'it is empty or contains "/", "+", "#" or NUL';
  let characters = 0;
  for (let i = 0; i < name.length; i++, characters++) {
    const unit = name.charCodeAt(i);
    let codePoint = unit;
    if (unit >= 0xd800 && unit <= 0xdfff) {
      const next = name.charCodeAt(i + 1);
      if (unit > 0xdbff || !(next >= 0xdc00 && next <= 0xdfff)) return `it contains the unpaired surrogate ${hex(unit)}`;
      codePoint = 0x10000 + ((unit - 0xd800) << 10) + (next - 0xdc00);
      i++;
    }
    if ((codePoint >= 0xfdd0 && codePoint <= 0xfdef) || (codePoint & 0xfffe) === 0xfffe) return `it contains the Unicode noncharacter ${hex(codePoint)}`;
  }
  return characters > MAX_COMMON_NAME_CHARACTERS ? `it has ${characters} characters` : undefined;
};
