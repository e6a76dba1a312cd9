import { firstLine } from "./csv.ts";
import { utf16ByBom } from "./decode.ts";

/** How many leading bytes {@link inspectClaimsHead} needs to judge a file. */
export const CLAIMS_HEAD_BYTES = 1024;

/** Why a file's first bytes show it is not delimited text, with a sentence for the person who sent it. */
export type ClaimsHeadProblem = { kind: "binary" | "no-delimiter"; detail: string };

const DELIMITERS = /[,;\t]/;

/**
 * Judges a file from its first {@link CLAIMS_HEAD_BYTES} bytes (fewer when `ended`: the whole file), before it
 * is stored: binary content (a NUL byte without a UTF-16 byte order mark: PNG, ZIP/XLSX…) or a first line
 * without `,` `;` or tab (judged only when the head holds the whole line) is not a claims export. An empty or
 * blank file passes: reading it reports "no rows", which says more.
 *
 * @example
 * const problem = inspectClaimsHead(head, head.length < CLAIMS_HEAD_BYTES);
 * if (problem?.kind === "binary") reject415(problem.detail);
 */
export function inspectClaimsHead(head: Uint8Array, ended: boolean): ClaimsHeadProblem | null {
  const bytes = head.subarray(0, CLAIMS_HEAD_BYTES);
  const utf16 = utf16ByBom(bytes);
  if (!utf16) {
    const nul = bytes.indexOf(0);
    if (nul >= 0) {
      return {
        kind: "binary",
        detail:
          `The file is binary, not CSV text: it holds a NUL byte (at byte ${nul})${describeMagic(bytes)}. ` +
          'Export the claims as CSV (UTF-8 or Windows-1252) or as Excel "Unicode text" (UTF-16 with its byte order mark).',
      };
    }
  }
  // Delimiters are ASCII: a lenient decoder is enough to find them.
  const text = new TextDecoder(utf16 ?? "utf-8").decode(bytes, { stream: !ended });
  if (text.trim() === "") return null;
  // A first line longer than the head is not judged: what it holds further on is unknown.
  const line = firstLine(ended ? `${text}\n` : text);
  if (line === undefined || DELIMITERS.test(line)) return null;
  const shown = line.trim().slice(0, 60);
  return {
    kind: "no-delimiter",
    detail:
      `The first line has no delimiter (comma, semicolon or tab), so this is not a delimited claims file: ` +
      `${JSON.stringify(shown)}${line.trim().length > 60 ? "…" : ""}.`,
  };
}

/** Names the format of well-known binary files from their magic numbers, for the message. */
function describeMagic(bytes: Uint8Array): string {
  const starts = (...magic: number[]) => magic.every((b, i) => bytes[i] === b);
  if (starts(0x89, 0x50, 0x4e, 0x47)) return "; it looks like a PNG image";
  if (starts(0x50, 0x4b, 0x03, 0x04)) return "; it looks like a ZIP archive (an .xlsx workbook is one)";
  if (starts(0xd0, 0xcf, 0x11, 0xe0)) return "; it looks like a legacy Office document (.xls)";
  if (starts(0x25, 0x50, 0x44, 0x46)) return "; it looks like a PDF";
  if (starts(0xff, 0xd8, 0xff)) return "; it looks like a JPEG image";
  if (starts(0x1f, 0x8b)) return "; it looks like a gzip archive";
  return "";
}
