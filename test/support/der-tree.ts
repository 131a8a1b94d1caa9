// A tiny DER tree codec for hostile tests: decode a certificate into nodes, change one node's
// encoding (a long-form length where the short form fits, an INTEGER with a redundant leading
// byte), encode it back. @peculiar/asn1-schema only ever writes minimal DER, so these re-encodings
// are what it cannot make.

export interface DerNode {
  tag: number;
  /** Primitive content; undefined for constructed nodes (tag bit 0x20). */
  content?: Buffer;
  children?: DerNode[];
  /** Write the length with this many length octets after 0x80|n (non-minimal when the short form fits). */
  longLengthOctets?: number;
  /** Already encoded (e.g. a signed TBSCertificate whose bytes must stay exactly as signed). */
  raw?: Buffer;
}

export const decodeDer = (der: Buffer): DerNode => {
  const [node, end] = decodeAt(der, 0);
  if (end !== der.length) throw new Error('bytes after the DER element');
  return node;
};

const decodeAt = (der: Buffer, offset: number): [DerNode, number] => {
  const tag = der[offset]!;
  let length = der[offset + 1]!;
  let start = offset + 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + der[start + i]!;
    start += count;
  }
  const end = start + length;
  if (!(tag & 0x20)) return [{ tag, content: der.subarray(start, end) }, end];
  const children: DerNode[] = [];
  for (let at = start; at < end;) {
    const [child, next] = decodeAt(der, at);
    children.push(child);
    at = next;
  }
  return [{ tag, children }, end];
};

const encodeLength = (length: number, longLengthOctets: number | undefined): Buffer => {
  if (longLengthOctets === undefined) {
    if (length < 0x80) return Buffer.from([length]);
    const octets: number[] = [];
    for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) octets.unshift(rest & 0xff);
    return Buffer.from([0x80 | octets.length, ...octets]);
  }
  const octets = Buffer.alloc(longLengthOctets);
  octets.writeUIntBE(length, 0, longLengthOctets);
  return Buffer.concat([Buffer.from([0x80 | longLengthOctets]), octets]);
};

export const encodeDer = (node: DerNode): Buffer => {
  if (node.raw) return node.raw;
  const content = node.children ? Buffer.concat(node.children.map(encodeDer)) : node.content!;
  return Buffer.concat([Buffer.from([node.tag]), encodeLength(content.length, node.longLengthOctets), content]);
};

/** Node at a path of child indexes from `root`. */
export const nodeAt = (root: DerNode, path: readonly number[]): DerNode =>
  path.reduce((node, index) => {
    const child = node.children?.[index];
    if (!child) throw new Error(`no child ${index} on the DER path`);
    return child;
  }, root);
