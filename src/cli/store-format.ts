/** How `eddy store` prints keys and values: printable UTF-8 as text (a newline as backslash-n), else 0x-hex. */
export function show(bytes: Uint8Array): string {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const text = buf.toString('utf8');
  let printable = Buffer.byteLength(text) === buf.length;
  for (let i = 0; printable && i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 && c !== 0x09 && c !== 0x0a) printable = false;
  }
  if (printable) return text.replace(/\n/g, '\\n');
  return `0x${buf.toString('hex')}`;
}
