/** The Quebec health-insurance number (NAM): 4 letters, then YYMMDD of birth (+50 on MM for women), then 2 digits. */
export const NAM_FORMAT = /^[A-Z]{4}\d{8}$/;

/** Builds a NAM; `serial` is the two administrative digits. */
export function encodeNam(letters: string, birthDate: string, female: boolean, serial: number): string {
  const month = Number(birthDate.slice(5, 7)) + (female ? 50 : 0);
  return `${letters}${birthDate.slice(2, 4)}${String(month).padStart(2, "0")}${birthDate.slice(8, 10)}${String(serial).padStart(2, "0")}`;
}

/**
 * Why `nam` is not a valid NAM for someone born on `birthDate` (YYYY-MM-DD), or null when it is.
 *
 * @example
 * namProblem("TREM85562512", "1985-06-25"); // null (a woman: month + 50)
 * namProblem("TREM85062612", "1985-06-25"); // 'NAM "TREM85062612" encodes birth date 85-06-26 …'
 */
export function namProblem(nam: string, birthDate: string): string | null {
  if (namMatches(nam, birthDate)) return null;
  if (!NAM_FORMAT.test(nam)) return `NAM "${nam}" is not 4 letters followed by 8 digits`;
  const yy = nam.slice(4, 6);
  const mm = Number(nam.slice(6, 8));
  const dd = nam.slice(8, 10);
  const month = mm > 50 ? mm - 50 : mm;
  const encoded = `${yy}-${nam.slice(6, 8)}-${dd}`;
  if (month < 1 || month > 12)
    return `NAM "${nam}" encodes month ${nam.slice(6, 8)} (expected 01–12, or 51–62 for women)`;
  if (
    yy !== birthDate.slice(2, 4) ||
    month !== Number(birthDate.slice(5, 7)) ||
    dd !== birthDate.slice(8, 10)
  ) {
    return `NAM "${nam}" encodes birth date ${encoded} (YY-MM-DD), which does not match birth date ${birthDate}`;
  }
  return null;
}

/** The quick yes: 4 letters, 8 digits, and YYMMDD (MM or MM+50) equal to the birth date's. */
function namMatches(nam: string, birth: string): boolean {
  if (nam.length !== 12 || birth.length !== 10) return false;
  for (let i = 0; i < 4; i++) {
    const c = nam.charCodeAt(i);
    if (c < 65 || c > 90) return false;
  }
  for (let i = 4; i < 12; i++) {
    const c = nam.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  const same = (n: number, b: number) => nam.charCodeAt(n) === birth.charCodeAt(b);
  const month = (nam.charCodeAt(6) - 48) * 10 + nam.charCodeAt(7) - 48;
  const birthMonth = (birth.charCodeAt(5) - 48) * 10 + birth.charCodeAt(6) - 48;
  return (
    same(4, 2) &&
    same(5, 3) &&
    same(8, 8) &&
    same(9, 9) &&
    (month === birthMonth || month === birthMonth + 50)
  );
}
