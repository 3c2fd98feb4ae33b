// A DICOM Part 10 file of 8-bit grey pixels (explicit VR little endian, uncompressed), written
// from the standard for the page tests. Self-contained (no outer references), so a test can
// also define it inside a page: `page.evaluate(`globalThis.dicomFile = ${dicomFile}`)`.

/**
 * @param {{ columns: number, rows: number, pixels: Uint8Array, photometric?: string, spacing?: string, window?: [number, number] }} image
 * @returns {Uint8Array}
 */
export function dicomFile({ columns, rows, pixels, photometric = "MONOCHROME2", spacing, window }) {
  const parts = [];
  const even = (bytes, pad) => (bytes.length % 2 ? Uint8Array.from([...bytes, pad]) : bytes);
  const text = (s) => even(new TextEncoder().encode(s), 0x20);
  const uid = (s) => even(new TextEncoder().encode(s), 0);
  const us = (v) => Uint8Array.of(v & 255, v >> 8);
  const element = (out, group, el, vr, value) => {
    const long = ["OB", "OW", "SQ", "UN", "UT"].includes(vr);
    const head = new DataView(new ArrayBuffer(long ? 12 : 8));
    head.setUint16(0, group, true);
    head.setUint16(2, el, true);
    head.setUint8(4, vr.charCodeAt(0));
    head.setUint8(5, vr.charCodeAt(1));
    if (long) head.setUint32(8, value.length, true);
    else head.setUint16(6, value.length, true);
    out.push(new Uint8Array(head.buffer), value);
  };
  const meta = [];
  element(meta, 0x0002, 0x0001, "OB", Uint8Array.of(0, 1));
  element(meta, 0x0002, 0x0002, "UI", uid("1.2.840.10008.5.1.4.1.1.1.1"));
  element(meta, 0x0002, 0x0003, "UI", uid("1.2.826.0.1.3680043.10.1083.3"));
  element(meta, 0x0002, 0x0010, "UI", uid("1.2.840.10008.1.2.1"));
  const metaLength = meta.reduce((n, b) => n + b.length, 0);
  parts.push(new Uint8Array(128), new TextEncoder().encode("DICM"));
  element(parts, 0x0002, 0x0000, "UL", Uint8Array.of(metaLength & 255, (metaLength >> 8) & 255, (metaLength >> 16) & 255, metaLength >>> 24));
  parts.push(...meta);
  element(parts, 0x0028, 0x0002, "US", us(1));
  element(parts, 0x0028, 0x0004, "CS", text(photometric));
  element(parts, 0x0028, 0x0010, "US", us(rows));
  element(parts, 0x0028, 0x0011, "US", us(columns));
  if (spacing) element(parts, 0x0028, 0x0030, "DS", text(spacing));
  element(parts, 0x0028, 0x0100, "US", us(8));
  element(parts, 0x0028, 0x0101, "US", us(8));
  element(parts, 0x0028, 0x0102, "US", us(7));
  element(parts, 0x0028, 0x0103, "US", us(0));
  if (window) {
    element(parts, 0x0028, 0x1050, "DS", text(String(window[0])));
    element(parts, 0x0028, 0x1051, "DS", text(String(window[1])));
  }
  element(parts, 0x7fe0, 0x0010, "OB", even(pixels, 0));
  const out = new Uint8Array(parts.reduce((n, b) => n + b.length, 0));
  let at = 0;
  for (const b of parts) {
    out.set(b, at);
    at += b.length;
  }
  return out;
}
