// HTTP/1.1 message syntax both parsers share: the fast path's request heads (http/) and the
// app's responses (upstream/).

/** A LF in buf[from..] not preceded by CR: such a head never ends in CRLFCRLF (RFC 9112 2.2). */
export function hasBareLf(buf: Buffer, from = 0): boolean {
  for (let i = buf.indexOf(10, from); i >= 0; i = buf.indexOf(10, i + 1)) if (i === from || buf[i - 1] !== 13) return true;
  return false;
}

/** s[from, to) without leading/trailing SP and HTAB only: the optional whitespace of RFC 9110 5.6.3 (String#trim would also eat 0xA0, VT and friends). */
export function trimOws(s: string, from: number, to: number): string {
  let a = from;
  let b = to;
  while (a < b && (s.charCodeAt(a) === 32 || s.charCodeAt(a) === 9)) a++;
  while (b > a && (s.charCodeAt(b - 1) === 32 || s.charCodeAt(b - 1) === 9)) b--;
  return s.slice(a, b);
}
