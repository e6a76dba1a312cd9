import { describe, expect, test } from "bun:test";
import {
  type ClaimsFileEncoding,
  type ClaimsHeader,
  createRuleEngine,
  encodeClaimsText,
  type Finding,
  type ParsedLine,
  parseClaims,
  streamClaims,
} from "../src/index.ts";
import { byteStream, dataLine, HEADER, parseAll, seedReference } from "./helpers.ts";

const TODAY = "2025-06-01";
const reference = await seedReference();

/** A generated file (Excel's "Unicode text" layout: tab-delimited) as bytes in `encoding`. */
async function generated(encoding: ClaimsFileEncoding) {
  const { stream, expected } = streamClaims({
    reference,
    rows: 3000,
    seed: 20251120,
    today: TODAY,
    delimiter: "\t",
    encoding,
  });
  const bytes = new Uint8Array(await new Response(stream).arrayBuffer());
  return { bytes, expected: await expected };
}

/** Every parsed line and every finding (parser and rules), read in `chunkSize`-byte chunks. */
async function check(bytes: Uint8Array, chunkSize: number) {
  const engine = createRuleEngine(reference, { today: TODAY });
  const lines: ParsedLine[] = [];
  const findings: Finding[] = [];
  let header: ClaimsHeader | undefined;
  const onHeader = (h: ClaimsHeader) => {
    header = h;
  };
  for await (const line of parseClaims(byteStream(bytes, chunkSize), { onHeader })) {
    lines.push(line);
    findings.push(...line.findings, ...engine.check(line));
  }
  findings.push(...engine.finish());
  const byRule: Record<string, number> = {};
  for (const f of findings) byRule[f.ruleId] = (byRule[f.ruleId] ?? 0) + 1;
  return { lines, findings, byRule, header };
}

describe("Excel's Unicode text export: UTF-16 with a BOM, tab-delimited", () => {
  const utf8 = generated("utf8");

  for (const [encoding, bom] of [
    ["utf16le", [0xff, 0xfe]],
    ["utf16be", [0xfe, 0xff]],
  ] as const) {
    test(`${encoding}: the same lines and findings as the UTF-8 file, chunks splitting code units`, async () => {
      const plain = await utf8;
      const wide = await generated(encoding);
      expect([...wide.bytes.subarray(0, 2)]).toEqual([...bom]);
      expect(wide.bytes.length).toBeGreaterThan(plain.bytes.length * 1.5);
      expect(wide.expected).toEqual(plain.expected);
      // 4099 is odd: most chunk boundaries fall inside a UTF-16 code unit.
      const want = await check(plain.bytes, 1 << 16);
      const got = await check(wide.bytes, 4099);
      expect(got.header?.delimiter).toBe("\t");
      expect(got.header?.ignored).toEqual([]);
      expect(got.lines).toHaveLength(3000);
      expect(got.lines).toEqual(want.lines);
      expect(got.findings).toEqual(want.findings);
      expect(got.byRule).toEqual(plain.expected.findings);
      expect(plain.expected.errorRows).toBeGreaterThan(50);
    });
  }

  test("byte-by-byte chunks: a BOM, code units and a surrogate pair split across chunks", async () => {
    const tabbed = (line: string) => line.replaceAll(",", "\t");
    const note = "Fièvre à l’urgence 😷";
    const text = `\uFEFF${tabbed(HEADER)}\r\n${tabbed(dataLine({ 11: note }))}\r\n${tabbed(dataLine({ 0: "2" }))}`;
    for (const encoding of ["utf16le", "utf16be"] as const) {
      const bytes = encodeClaimsText(text, encoding);
      for (const chunkSize of [1, 3]) {
        const lines = await parseAll(bytes, { chunkSize });
        expect({ encoding, chunkSize, lines: lines.map((l) => l.record?.diagnosis_code) }).toEqual({
          encoding,
          chunkSize,
          lines: [note, "401"],
        });
        expect(lines.flatMap((l) => l.findings)).toEqual([]);
      }
    }
  });

  test("UTF-16 without a BOM is not guessed: the header is unusable (and the upload check refuses it)", async () => {
    const bytes = encodeClaimsText(`${HEADER}\r\n${dataLine()}\r\n`, "utf16le");
    await expect(parseAll(bytes)).rejects.toThrow(/Unusable header/);
  });
});
